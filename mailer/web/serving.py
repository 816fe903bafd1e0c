"""Serving the API from several processes on one port.

`uvicorn --workers N` shares one listening socket: whichever process wakes first takes
the connection, and with keep-alive clients one process ends up with most of them
while the others idle (measured: 63% CPU against 10%). Here each process listens on a
socket of its own with SO_REUSEPORT, and the kernel spreads new connections evenly
over them, as nginx's `reuseport` does.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
from collections.abc import Callable
from types import FrameType


def _serve_one(host: str, port: int) -> None:
    import uvicorn

    from mailer.web.app import app_from_env

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    # The client's address is ours to work out (MAILER_TRUSTED_PROXIES), not uvicorn's.
    config = uvicorn.Config(app_from_env, factory=True, proxy_headers=False,
                            log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(host: str, port: int, processes: int,
                    target: Callable[..., None] = _serve_one, *extra: object) -> int:
    """Run `processes` server processes (the API's, unless `target` says another
    server's) until SIGTERM or Ctrl-C; each reads its settings from MAILER_* variables
    and listens with SO_REUSEPORT. Returns 1 if any of them failed, else 0."""
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=target, args=(host, port, *extra), daemon=False)
                for _ in range(processes)]
    for child in children:
        child.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    return 1 if any(child.exitcode for child in children) else 0
