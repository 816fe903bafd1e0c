"""The file backend keeps the contract; what it writes is what the SMTP sink stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.errors import TransientDeliveryError
from mailer.sending.backends.file import FileBackend, write_eml
from tests.sending.backends.contract import BackendContract, Harness


def contents(directory: Path) -> list[bytes]:
    """Each .eml file's message, without the two envelope lines before it."""
    files = sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [p.read_bytes().split(b"\r\n", 2)[2] for p in files]


class TestFileBackend(BackendContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> Harness:
        return Harness(FileBackend(tmp_path), lambda: contents(tmp_path))


def test_write_eml_puts_the_envelope_first_and_leaves_no_temporary_file(
        tmp_path: Path) -> None:
    path = write_eml(tmp_path, b"Subject: x\r\n\r\nbody\r\n", "a@today.az", "b@example.org")
    assert path is not None and path.parent == tmp_path
    assert path.read_bytes() == (b"X-Envelope-From: a@today.az\r\nX-Envelope-To: "
                                 b"b@example.org\r\nSubject: x\r\n\r\nbody\r\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_directory_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TransientDeliveryError, match="cannot create"):
        FileBackend(blocker / "outbox").open()
    assert write_eml(blocker, b"x", "a@today.az", "b@example.org") is None
