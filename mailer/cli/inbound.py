"""`mailer inbound`: the three ways returned mail comes in (an SMTP/LMTP server, one
message from Postfix's pipe, an IMAP mailbox) and the list of what no one could read."""

from __future__ import annotations

import json
import signal
import sys
import time
from types import FrameType

import click

from mailer.cli.base import pass_settings, use_stores
from mailer.cli.failure import PipeCommand
from mailer.config import Settings
from mailer.errors import InvalidInput, ServiceUnavailable


@click.group(short_help="Returned mail coming in: SMTP/LMTP, pipe, IMAP.")
def inbound() -> None:
    """Returned mail coming in: bounces, complaints, unsubscribe mail."""


@inbound.command("serve", short_help="Take returned mail over SMTP or LMTP.")
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=2525, type=int, help="Port to listen on.")
@click.option("--lmtp", is_flag=True, help="Speak LMTP (Postfix's lmtp: transport) "
              "rather than SMTP.")
@click.option("--processes", default=1, type=click.IntRange(1, 64),
              help="Server processes on the one port (SO_REUSEPORT): a bounce storm "
                   "uses every core.")
@pass_settings
def serve(settings: Settings, host: str, port: int, lmtp: bool, processes: int) -> int:
    """Take mail for the bounce address and the unsubscribe mailbox (any +tag) until
    stopped: what the bounce domain's MX, or Postfix's transport map, delivers to.
    Anything else is refused (550); with the database away, 451."""
    from mailer import services

    if processes > 1:
        from mailer.web.serving import serve_processes

        use_stores(settings)  # the database answers and is current, or one line says why
        return serve_processes(host, port, processes, serve_one, lmtp)
    receiver = services.make_receiver(settings, use_stores(settings), host=host, port=port,
                                      lmtp=lmtp)
    receiver.start()
    click.echo(f"{'LMTP' if lmtp else 'SMTP'} on {host}:{port} for "
               f"{settings.bounce_address or '(no bounce address)'} and "
               f"{settings.unsubscribe_mailbox}; Ctrl-C stops", err=True)
    try:
        _wait_for_stop()
    finally:
        receiver.stop()
    return 0


def serve_one(host: str, port: int, lmtp: bool) -> None:
    """One of several server processes: its own settings, stores and receiver."""
    from mailer import services
    from mailer.config import load_settings

    settings = load_settings()
    with services.stores(settings) as stores:
        receiver = services.make_receiver(settings, stores, host=host, port=port,
                                          lmtp=lmtp, reuse_port=True)
        receiver.start()
        try:
            _wait_for_stop()
        finally:
            receiver.stop()


def _wait_for_stop() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        signal.pause()
    except KeyboardInterrupt:
        click.echo("stopping", err=True)


@inbound.command("read", cls=PipeCommand,
                 short_help="Take one message from standard input (Postfix's pipe).")
@click.option("--envelope-to", default=None, metavar="ADDR",
              help="The envelope recipient (pipe(8)'s ${recipient}); default: read from "
                   "the headers.")
@pass_settings
def read(settings: Settings, envelope_to: str | None) -> None:
    """Take one message from standard input, for Postfix's pipe(8) transport. Exit
    codes are sysexits.h's: 0 taken (or kept for a person), 75 try again later (the
    database is away), 65 an empty or too large message, 64 bad usage."""
    from mailer import services

    limit = settings.inbound_max_bytes
    raw = sys.stdin.buffer.read(limit + 1)
    if not raw.strip():
        raise InvalidInput({"stdin": "an empty message"})
    if len(raw) > limit:
        raise InvalidInput({"stdin": f"a message over MAILER_INBOUND_MAX_BYTES ({limit} "
                                     "bytes), refused as the SMTP receiver refuses it"})
    handed = services.inbound_handoff(settings, use_stores(settings)).hand(raw, envelope_to)
    if handed.taken is None:
        click.echo(f"kept: the intake failed; the message is in {handed.kept_as}", err=True)
        return
    actions = ", ".join(sorted({e.action for e in handed.taken.events})) or "none"
    click.echo(f"{handed.taken.type}: {actions}")


@inbound.command("poll", short_help="Take returned mail from an IMAP mailbox.")
@click.argument("url")
@click.option("--once", is_flag=True, help="One pass, then exit (the default).")
@click.option("--every", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="A pass every SECONDS until stopped; an outage is told and waited out.")
@pass_settings
def poll(settings: Settings, url: str, once: bool, every: float | None) -> None:
    """Read the mailbox at URL (imaps://user:pass@host/INBOX, or imap:// on loopback or
    with ?starttls=1): each message the intake reads moves to the folder
    ?done=Processed (made if missing); what it cannot read stays, flagged for a
    person. Reruns are safe: a message moves only after its effects are committed."""
    from mailer import services

    if once and every:
        raise click.UsageError("--once or --every, not both")
    poller = services.mailbox_poller(settings, use_stores(settings), url)
    while True:
        try:
            polled = poller.poll()
        except ServiceUnavailable as exc:
            if not every:
                raise
            click.echo(f"error: {exc}; trying again in {every:g} s", err=True)
        else:
            click.echo(f"{polled.taken} taken, {polled.left} left for a person (flagged), "
                       f"{polled.failed} failed")
        if not every:
            return
        time.sleep(every)


@inbound.command("unknown", short_help="List the returned mail kept for a person.")
@click.option("--failed", is_flag=True, help="List what the intake failed on instead "
              "(var/inbound/failed: feed each again with `mailer inbound read < FILE`).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def unknown(settings: Settings, failed: bool, as_json: bool) -> None:
    """The messages no one could read (file, date kept, from, subject), newest first."""
    from mailer.inbound.kept import kept_messages

    folder = settings.var_dir / "inbound" / ("failed" if failed else "unknown")
    for kept in kept_messages(folder):
        when = kept.kept_at.isoformat(timespec="seconds")
        if as_json:
            click.echo(json.dumps({"file": str(kept.file), "date": when, "from": kept.sender,
                                   "subject": kept.subject}, ensure_ascii=False))
        else:
            click.echo(f"{kept.file}  {when}  {kept.sender}  {kept.subject}")
