from __future__ import annotations

import email
import os
import subprocess
import sys
from email import policy
from pathlib import Path

from mailer.config import ROOT


def test_demo_delivers_the_seed_article_and_stops_everything(tmp_path: Path) -> None:
    env = {**os.environ, "MAILER_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "mailer.cli", "demo"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    assert f"delivered message: {eml}" in done.stdout
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Subject"].startswith("Recommended to you: Non-Aligned Movement")
    preview = tmp_path / "preview" / f"{eml.stem}.html"
    assert preview.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "stack stopped" in done.stdout
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps, "the demo left a process running"
