"""The alert rules and the Grafana dashboard that ship in deploy/: the rules load and
their unit tests pass in Debian's promtool (skipped where it is not installed); the
dashboard imports as is and charts every metric the API exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mailer.config import ROOT, Settings
from mailer.web.app import create_app

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "newsmailer.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed "
                                    "(Debian package prometheus; .ci/run installs it)")


def panel_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@needs_promtool
def test_rules_load_and_their_unit_tests_pass() -> None:
    assert PROMTOOL is not None
    for argv in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([PROMTOOL, *argv], cwd=PROMETHEUS, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def test_every_alert_has_a_runbook_entry_and_a_firing_test() -> None:
    rules = re.findall(r"- alert: (\w+)", (PROMETHEUS / "alerts.yml").read_text())
    operations = (ROOT / "docs" / "operations.md").read_text()
    tests = (PROMETHEUS / "alerts.test.yml").read_text()
    assert len(rules) >= 9
    for name in rules:
        assert f"#### {name}" in operations, f"docs/operations.md has no runbook for {name}"
        assert re.search(rf"alertname: {name}\n\s+exp_alerts:", tests), \
            f"alerts.test.yml never sees {name} fire"


def test_the_dashboard_imports_as_is_and_charts_every_metric(
        make_settings: Callable[..., Settings], redis_client: redis.Redis) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and all("gridPos" in p for p in dashboard["panels"])
    with TestClient(create_app(make_settings())) as client:
        exported = {family.name for family in
                    text_string_to_metric_families(client.get("/metrics").text)}
    queries = " ".join(panel_queries())
    uncharted = sorted(name for name in exported if not re.search(rf"\b{name}", queries))
    assert not uncharted, f"no panel shows {uncharted}"
