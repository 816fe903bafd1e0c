"""The embedded SMTP sink: what the demo and a newcomer's first run deliver into, over
real SMTP, one .eml file per recipient."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from mailer.local.embedded import free_port
from mailer.local.sink import start_sink

MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: Hi\r\n\r\nBody\r\n"


def test_each_recipient_gets_a_file_with_its_envelope(tmp_path: Path) -> None:
    port = free_port()
    controller = start_sink(tmp_path / "outbox", port=port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            refused = client.sendmail("a@example.com", ["b@example.org", "c@example.org"],
                                      MESSAGE)
    finally:
        controller.stop()
    assert refused == {}
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    heads = sorted(f.read_bytes().split(b"\r\n", 2)[1] for f in files)
    assert heads == [b"X-Envelope-To: b@example.org", b"X-Envelope-To: c@example.org"]
    assert all(f.read_bytes().endswith(b"Body\r\n") for f in files)
    assert not list((tmp_path / "outbox").glob(".*.tmp")), "no half-written file is left"


def test_a_sink_that_cannot_store_defers_rather_than_loses(tmp_path: Path) -> None:
    port = free_port()
    outbox = tmp_path / "outbox"
    controller = start_sink(outbox, port=port)
    outbox.rmdir()
    (tmp_path / "outbox").write_text("not a directory")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client, \
                pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.com", ["b@example.org"], MESSAGE)
    finally:
        controller.stop()
    assert refused.value.smtp_code == 451
