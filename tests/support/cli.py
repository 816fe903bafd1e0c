"""Runs the real `mailer` entry point in-process and returns what it printed."""

from __future__ import annotations

import pytest

from mailer.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err
