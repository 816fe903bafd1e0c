"""How a newsroom publishes breaking news: the CMS's `"breaking": true` on POST
/articles, and `mailer articles alert ID` for an editor."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from mailer.cli import main
from mailer.config import Settings
from mailer.queue import ALERT_PLAN_TASK
from mailer.web.app import create_app
from tests.alerts.test_plan import STORY, lane

KEY = {"X-API-Key": "cms-key"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(api_key=SecretStr("cms-key"))


@pytest.fixture
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_cms_marks_a_story_breaking_once(client: TestClient,
                                             redis_client: redis.Redis) -> None:
    body = {**STORY.model_dump(mode="json"), "breaking": True}
    first = client.post("/articles", json=[body, {**body, "id": "not-breaking",
                                                  "breaking": False}], headers=KEY).json()
    assert first["imported"] == 2
    [alert] = first["alerts"]
    assert (alert["article"], alert["new"]) == (STORY.id, True)
    assert lane(redis_client) == [(ALERT_PLAN_TASK, {"run_id": alert["run_id"]})]
    again = client.post("/articles", json=body, headers=KEY).json()["alerts"]
    assert again == [{"article": STORY.id, "run_id": alert["run_id"], "new": False}], \
        "a correction to the story alerts no one again"
    bad = client.post("/articles", json={**body, "breaking": "yes"}, headers=KEY)
    assert bad.status_code == 422 and "breaking: must be true or false" in bad.text


def test_an_editor_alerts_from_the_command_line(
        settings: Settings, client: TestClient, redis_client: redis.Redis,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client.post("/articles", json=STORY.model_dump(mode="json"), headers=KEY)
    for name, value in (("MAILER_DATABASE_URL", settings.database),
                        ("MAILER_REDIS_URL", settings.redis_url),
                        ("MAILER_VAR_DIR", str(settings.var_dir))):
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as done:
            main(list(args))
        captured = capsys.readouterr()
        return int(done.value.code or 0), captured.out + captured.err

    code, out = run("articles", "alert", STORY.id)
    assert code == 0 and "planning queued on the alerts lane" in out
    assert [task for task, _ in lane(redis_client)] == [ALERT_PLAN_TASK]
    code, out = run("articles", "alert", STORY.id)
    assert code == 0 and "alerted before" in out
    assert run("articles", "alert", "no-such-story")[0] == 2
    code, out = run("alerts", "cancel", STORY.id)
    assert code == 0 and "cancelled" in out
    code, out = run("alerts", "list")
    assert code == 0 and STORY.id in out and "cancelled" in out
