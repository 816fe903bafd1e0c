"""A private Debian Postfix for the end-to-end tests: its own config, queue and log
directories and loopback ports, started and stopped by the test; skipped with the
reason where Postfix is missing or cannot start its master."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
NEEDS_POSTFIX = [
    pytest.mark.skipif(not Path(POSTFIX).exists(),
                       reason="Postfix is not installed (Debian package postfix; .ci/run "
                              "installs it)"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="a private Postfix instance needs root to start its master"),
]


@dataclass
class Postfix:
    root: Path

    def postfix(self, *args: str) -> None:
        subprocess.run([POSTFIX, "-c", str(self.root / "etc"), *args], check=True,
                       capture_output=True, timeout=60)

    def write(self, name: str, text: str) -> None:
        (self.root / "etc" / name).write_text(text)

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def private_postfix(listeners: Sequence[str], relay_port: int, extra: str,
                    files: dict[str, str], ready_port: int) -> Iterator[Postfix]:
    """`listeners`: master.cf lines in place of the system's smtp service; mail leaves
    for 127.0.0.1:`relay_port`; `extra`: main.cf lines of the test's own; `files`: the
    maps it names, in etc/."""
    # World-traversable, as Postfix's daemons run as the postfix user.
    root = Path(tempfile.mkdtemp(prefix="newsmailer-postfix-"))
    root.chmod(0o755)
    for sub in ("etc", "spool", "data"):
        (root / sub).mkdir()
    shutil.chown(root / "data", "postfix")
    instance = Postfix(root)
    instance.write("master.cf", _master_cf(listeners))
    instance.write("main.cf", _main_cf(root, relay_port) + extra)
    for name, text in files.items():
        instance.write(name, text)
    instance.postfix("start")
    try:
        listening(ready_port, 30)
        yield instance
    finally:
        subprocess.run([POSTFIX, "-c", str(root / "etc"), "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _master_cf(listeners: Sequence[str]) -> str:
    lines: list[str] = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        if line.startswith("smtp ") and " inet " in line:
            lines += listeners
            continue
        # No chroot: this instance's queue directory is not set up as a jail.
        lines.append(re.sub(r"^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)", r"\1n\2", line))
    return "\n".join(lines) + "\n"


def _main_cf(root: Path, relay_port: int) -> str:
    return f"""compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = relay.test
mydomain = relay.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_transport = error:no local delivery
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


def listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
