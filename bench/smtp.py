"""SMTP delivery rate to the local sink: one connection per message (baseline) against
one reused connection (what SmtpBackend does in a worker). The sink runs in its own
process so client and server do not share an interpreter.

    python bench/smtp.py [--messages N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.config import SmtpConfig  # noqa: E402
from mailer.local.embedded import free_port  # noqa: E402
from mailer.sending.backends.smtp import SmtpBackend  # noqa: E402
from mailer.sending.message import (  # noqa: E402
    Envelope,
    RenderedEmail,
    build_message,
)


def envelope(i: int, html: str) -> Envelope:
    msg = build_message(rendered=RenderedEmail(f"Message {i}", html, "text"),
                        from_addr=("Site", "news@today.az"),
                        to_addr=("Friend", f"friend{i}@example.org"),
                        reply_to=None, domain="today.az")
    return Envelope(msg, "news@today.az", f"friend{i}@example.org", eightbit=True,
                    wire_ready=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "MAILER_VAR_DIR": var}
        sink = subprocess.Popen([sys.executable, "-m", "mailer.cli", "sink", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            time.sleep(1.5)
            html = "<p>" + "x" * 20_000 + "</p>"  # about the size of a share e-mail
            items = [envelope(i, html) for i in range(args.messages)]
            config = SmtpConfig("127.0.0.1", port, timeout=10)

            start = time.perf_counter()
            for item in items:
                backend = SmtpBackend(config)
                assert backend.send_messages([item])[0].ok
                backend.close()
            per_conn = args.messages / (time.perf_counter() - start)

            start = time.perf_counter()
            backend = SmtpBackend(config)
            assert all(r.ok for r in backend.send_messages(items))
            backend.close()
            reused = args.messages / (time.perf_counter() - start)
        finally:
            sink.terminate()
            sink.wait()
    print(f"SMTP to the local sink, {args.messages} messages of ~20 KB, one client process")
    print(f"{'connection per message':<28}{per_conn:>10.0f} msg/s")
    print(f"{'one reused connection':<28}{reused:>10.0f} msg/s   ({reused / per_conn:.1f}x)")


if __name__ == "__main__":
    main()
