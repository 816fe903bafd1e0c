"""Runs the real `mailer` entry point in-process and returns what it printed."""

from __future__ import annotations

import io
import sys

import pytest

from mailer.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str],
        stdin: bytes | None = None) -> tuple[int, str, str]:
    """`stdin`: what the command reads on standard input (`mailer inbound read`)."""
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with pytest.raises(SystemExit) as info:
            main(argv)
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err
