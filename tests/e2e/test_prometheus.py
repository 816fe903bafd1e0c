"""Debian's Prometheus on a loopback port scrapes the API of a real stack (uvicorn, a
Celery worker, Redis, SMTP) with deploy/prometheus/alerts.yml loaded, while shares go
out, wait and fail; through Prometheus' HTTP API every panel's query of the Grafana
dashboard and every alert's query parse and return series, and every rule evaluates
without error. Skipped, with the reason, where Prometheus is not installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from mailer.config import ROOT, Settings
from mailer.local.embedded import ApiServer, WorkerProcess, free_port
from mailer.web.app import create_app
from tests.deploy.test_prometheus import panel_queries
from tests.e2e.conftest import wait_for_job
from tests.e2e.test_share_flow import share
from tests.support.smtp import RecordingHandler

PROMETHEUS = shutil.which("prometheus")
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
pytestmark = [pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed "
                                 "(Debian package prometheus; .ci/run installs it)"),
              pytest.mark.timeout(300)]


TOKEN = "scrape-token-for-the-e2e-test"


@pytest.fixture
def api(e2e_settings: Settings, worker: WorkerProcess) -> Iterator[httpx.Client]:
    """The stack's API with MAILER_METRICS_TOKEN set, scraped as docs/operations.md
    says: `authorization: credentials:`."""
    settings = e2e_settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    server = ApiServer(create_app(settings)).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/metrics").status_code == 401
        yield client
    server.stop()


@pytest.fixture
def prometheus(api: httpx.Client, tmp_path: Path) -> Iterator[httpx.Client]:
    assert PROMETHEUS is not None
    target = str(api.base_url).removeprefix("http://").rstrip("/")
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s",
                   "evaluation_interval": "2s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "newsmailer",
                            "authorization": {"credentials": TOKEN},
                            "static_configs": [{"targets": [target]}]}]}))
    port = free_port()
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus did not get ready"
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)


def query(prometheus: httpx.Client, expr: str) -> list[dict[str, Any]]:
    answer = prometheus.get("/api/v1/query", params={"query": expr}).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def wait_until(prometheus: httpx.Client, expr: str, why: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not query(prometheus, expr):
        assert time.monotonic() < deadline, \
            f"{why}: {query(prometheus, 'mailer_messages_total')}"
        time.sleep(0.5)


def without_threshold(expr: str) -> str:
    """An alert's expression less its final comparison: what it measures, which has
    series whether or not the alert fires."""
    found = re.match(r"^(.*\S)\s*(?:==|!=|>=|<=|>|<)\s*[0-9.]+\s*$", " ".join(expr.split()))
    assert found, expr
    return found.group(1)


def alert_queries() -> dict[str, str]:
    text = RULES.read_text()
    names = re.findall(r"- alert: (\w+)", text)
    exprs = re.findall(r"expr: (?:>\n((?:\s{10}.+\n)+)|(.+)\n)", text)
    assert len(names) == len(exprs)
    return {name: (folded or line).strip() for name, (folded, line) in zip(names, exprs,
                                                                            strict=True)}


def test_every_panel_and_alert_returns_series(api: httpx.Client, prometheus: httpx.Client,
                                              smtp_handler: RecordingHandler) -> None:
    wait_until(prometheus, 'up{job="newsmailer"} == 1', "Prometheus never scraped the API")
    smtp_handler.script("prom-later@example.org", "451 4.7.1 greylisted, try again")
    smtp_handler.script("prom-never@example.org", "550 5.1.1 no such user")
    jobs = [share(api, f"prom-{who}@example.org") for who in ("ok", "later", "never")]
    for job_id in jobs:
        wait_for_job(api, job_id, {"sent", "failed"})
    # Scraped before and after the traffic, so that rate() sees it.
    wait_until(prometheus, 'increase(mailer_messages_total{outcome="failed"}[5m]) > 0',
               "the traffic never reached Prometheus")
    empty = [expr for expr in panel_queries() if not query(prometheus, expr)]
    assert not empty, f"panels without series: {empty}"
    quiet = [name for name, expr in alert_queries().items()
             if not query(prometheus, without_threshold(expr))]
    assert not quiet, f"alerts whose query has no series: {quiet}"
    rules = prometheus.get("/api/v1/rules").json()["data"]["groups"][0]["rules"]
    assert {rule["name"] for rule in rules} == set(alert_queries())
    broken = [(rule["name"], rule.get("lastError")) for rule in rules
              if rule["health"] != "ok"]
    assert not broken, broken
