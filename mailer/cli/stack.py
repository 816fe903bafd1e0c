"""Commands that run things: the API, the SMTP sink, the embedded stack, the demo."""

from __future__ import annotations

import time

import click

from mailer.cli.base import pass_settings
from mailer.config import Settings


@click.command()
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=8000, type=int, help="Port to listen on.")
@click.option("--workers", default=1, type=click.IntRange(1, 64),
              help="API processes, each with its own socket on the port (SO_REUSEPORT).")
@pass_settings
def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run the HTTP API under uvicorn."""
    import os

    import uvicorn

    from mailer.local.embedded import worker_env
    from mailer.services import check_redis
    from mailer.web.app import create_app

    check_redis(settings)  # away: one line and exit 3, not a server that cannot work
    # The client's address is ours to work out (MAILER_TRUSTED_PROXIES), not uvicorn's.
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=False)
        return 0
    # Each process builds its own app from the environment: hand it these settings.
    os.environ.update(worker_env(settings))
    from mailer.web.serving import serve_processes

    return serve_processes(host, port, workers)


@click.command(short_help='Run the local SMTP sink; mail lands in var/outbox/.')
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=8025, type=int, help="Port to listen on.")
@pass_settings
def sink(settings: Settings, host: str, port: int) -> int:
    """Run the local SMTP sink, storing every message under var/outbox/."""
    from mailer.local.sink import start_sink

    controller = start_sink(settings.outbox_dir, host=host, port=port)
    click.echo(f"SMTP sink on {host}:{port}, writing to {settings.outbox_dir}; Ctrl-C stops")
    try:
        _wait_for_interrupt()
    finally:
        controller.stop()
    return 0


@click.command(short_help='Run the embedded stack (Redis, SMTP, worker, API).')
@click.option("--port", default=8000, type=int, help="Port for the API.")
@pass_settings
def stack(settings: Settings, port: int) -> int:
    """Run the embedded stack (Redis, SMTP sink, worker, API) until Ctrl-C."""
    from mailer.local.demo import run_stack

    with run_stack(settings, api_port=port) as running:
        try:
            # SIGTERM may come as soon as these lines are out: inside the try, so it
            # stops the stack like Ctrl-C.
            key_note = " (made for this stack; set MAILER_API_KEY to choose one)" \
                if running.generated_key else " (MAILER_API_KEY)"
            click.echo(f"site     {running.api_url}/\n"
                       f"ops      {running.api_url}/ops  (any user name; the password is "
                       f"the API key)\n"
                       f"API key  {running.api_key}{key_note}\n"
                       f"mail     {settings.outbox_dir}/\n"
                       f"In another shell, `mailer status` sees this stack after:\n"
                       f"  {running.exports()}\n"
                       "Ctrl-C stops")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopping")
    return 0


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopping")


@click.command(short_help='Run the embedded stack once: a share, sign-ups, a digest.')
@pass_settings
def demo(settings: Settings) -> int:
    """Run the embedded stack once: a share, sign-ups, a digest.

    Starts a private Redis, an SMTP sink, a Celery worker and the API; shares the seed
    article, signs two readers up and follows their confirmation links, sends the
    digest of the seed article's day, waits until each is delivered, says where the
    .eml files are, and stops everything."""
    from mailer.local.demo import run_demo

    return run_demo(settings, echo=click.echo)
