"""`mailer bounces classify`: one JSON line per file, an unreadable file told on stderr
with exit 2 after the others are printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run

CORPUS = Path(__file__).resolve().parents[1] / "inbound" / "corpus"


def test_classify_prints_one_json_line_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(CORPUS / "postfix-17.eml"), str(CORPUS / "autoreply-07.eml")]
    code, out, err = run(["bounces", "classify", *files], capsys)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == files
    assert lines[0]["type"] == "bounce"
    assert set(lines[0]["recipients"][0]) == {"address", "status", "hard"}
    assert lines[1]["type"] == "auto-reply"


def test_a_missing_file_is_one_line_on_stderr_and_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.eml"
    code, out, err = run(["bounces", "classify", str(missing),
                          str(CORPUS / "postfix-17.eml")], capsys)
    assert code == 2
    assert len(out.splitlines()) == 1
    assert err.strip().splitlines() == [f"error: {missing}: No such file or directory"]


def test_mail_to_the_unsubscribe_mailbox(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    message = tmp_path / "unsub.eml"
    message.write_bytes(b"From: reader@example.com\nTo: leave+abc@news.example.org\n"
                        b"Subject: unsubscribe\n\n")
    code, out, _ = run(["bounces", "classify", "--unsubscribe-mailbox",
                        "leave@news.example.org", str(message)], capsys)
    assert code == 0
    assert json.loads(out)["type"] == "unsubscribe"
