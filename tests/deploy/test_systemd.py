"""The service units in deploy/systemd/ pass `systemd-analyze verify` (syntax, known
keys, executables that exist) once their install paths point at this checkout, run as a
user of their own with restarts and the environment file, and each command they start
accepts its arguments. Skipped where systemd-analyze is missing (Debian package
systemd)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mailer.config import ROOT

UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
ANALYZE = shutil.which("systemd-analyze")
INSTALLED, ENV_FILE = "/opt/newsmailer", "/etc/newsmailer/newsmailer.env"


def localised(unit: Path, folder: Path) -> Path:
    text = unit.read_text().replace(INSTALLED, str(ROOT)).replace(
        ENV_FILE, str(ROOT / "deploy" / "systemd" / "newsmailer.env.example"))
    out = folder / unit.name
    out.write_text(text)
    return out


def test_every_piece_has_a_unit() -> None:
    assert {u.stem for u in UNITS} == {"newsmailer-api", "newsmailer-share-worker",
                                       "newsmailer-alert-worker", "newsmailer-digest-worker",
                                       "newsmailer-beat", "newsmailer-inbound"}


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (Debian "
                    "package systemd)")
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_unit_verifies_and_starts_a_real_command(unit: Path, tmp_path: Path) -> None:
    assert ANALYZE is not None
    local = localised(unit, tmp_path)
    done = subprocess.run([ANALYZE, "verify", "--man=no", str(local)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), \
        done.stdout + done.stderr
    text = local.read_text()
    for line in ("Restart=always", "User=newsmailer", f"EnvironmentFile={ROOT}/deploy",
                 "NoNewPrivileges=yes"):
        assert line in text, f"{unit.name} lacks {line}"
    env_file = ROOT / "deploy" / "systemd" / "newsmailer.env.example"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)} | dict(
        line.split("=", 1) for line in env_file.read_text().splitlines()
        if line and not line.startswith("#"))
    for start in re.findall(r"^ExecStart(?:Pre)?=(.+)$", text, re.M):
        argv = shlex.split(start.replace("%%", "%"))
        checked = subprocess.run([*argv, "--help"], capture_output=True, text=True,
                                 timeout=60, cwd=ROOT, env=env)
        assert checked.returncode == 0, f"{start}: {checked.stderr[-500:]}"
