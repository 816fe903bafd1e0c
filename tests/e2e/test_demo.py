from __future__ import annotations

import email
import json
import os
import re
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
    [line] = [x for x in done.stdout.splitlines() if x.startswith("delivered message: ")]
    eml = Path(line.removeprefix("delivered message: "))
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Subject"].startswith("Recommended to you: Non-Aligned Movement")
    subjects = sorted(email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
                      for p in (tmp_path / "outbox").glob("*.eml"))
    digest = "TODAY.AZ, 28 October: Non-Aligned Movement support to Azerbaijan…"
    assert subjects == ["Confirm your subscription to TODAY.AZ"] * 2 + [msg["Subject"]] + [
        digest] * 2 + ["Welcome to TODAY.AZ: your subscription is confirmed"] * 2
    assert "active subscribers: leyla@example.com, tural@example.net" in done.stdout
    assert "digest of 2020-10-28: 2 sent" in done.stdout
    preview = tmp_path / "preview" / f"{eml.stem}.html"
    assert preview.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "stack stopped" in done.stdout
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps, "the demo left a process running"


def test_stack_is_watchable_and_stops_its_children_on_sigterm(tmp_path: Path) -> None:
    """What `mailer stack` prints is enough to watch it: the /ops page opens with the key
    it names, and `mailer status` in another shell, after its export line, sees it."""
    import base64
    import shlex
    import signal
    import time
    import urllib.request

    from mailer.local.embedded import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    proc = subprocess.Popen([sys.executable, "-m", "mailer.cli", "stack", "--port",
                             str(free_port())], env={**env, "MAILER_VAR_DIR": str(tmp_path)},
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline()]
    while "Ctrl-C stops" not in lines[-1]:
        assert lines[-1], "".join(lines)
        lines.append(proc.stdout.readline())
    printed = "".join(lines)
    ops = re.search(r"^ops +(http://\S+/ops)", printed, re.M)
    key = re.search(r"^API key +(\S+) \(made for this stack", printed, re.M)
    export = re.search(r"^ +export (.+)$", printed, re.M)
    assert ops and key and export, printed
    auth = base64.b64encode(f"ops:{key.group(1)}".encode()).decode()
    request = urllib.request.Request(ops.group(1), headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request, timeout=10) as page:
        assert page.status == 200
    shell_env = dict(env)
    for pair in shlex.split(export.group(1)):
        name, _, value = pair.partition("=")
        shell_env[name] = value
    status = subprocess.run([sys.executable, "-m", "mailer.cli", "status", "--json"],
                            env=shell_env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert status.returncode in (0, 1), status.stderr
    assert json.loads(status.stdout)["workers"], "the other shell sees the stack's worker"
    children = _children(proc.pid)
    assert len(children) >= 2, "redis-server and the celery worker"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children):
        assert time.monotonic() < deadline, "a child outlived the stack"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]
