"""The `mailer` command, run in-process through its real entry point `main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from mailer.local.embedded import free_port
from tests.support.cli import run

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
SHARE = ["share", ARTICLE, "--sender-name", "Aysel", "--sender-email", "aysel@example.com",
         "--friend-name", "Vüqar", "--friend-email", "vuqar@example.org"]



@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, make_settings, redis_client: redis.Redis,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> Path:
    settings = make_settings()
    monkeypatch.setenv("MAILER_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("MAILER_DATABASE_URL", settings.database)
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path))
    return tmp_path


def test_bad_input_exits_2_with_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*SHARE[:-1], "vuqar@@example.org"], capsys)
    assert code == 2
    [line] = err.splitlines()
    assert line == ("error: --friend-email: The part after the @-sign contains invalid "
                    "characters: '@'.")
    assert out == ""


def test_header_injection_exits_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*SHARE]
    argv[3] = "Aysel\r\nBcc: victim@example.net"
    code, _, err = run(argv, capsys)
    assert (code, err) == (2, "error: --sender-name: must be one line\n")


def test_unknown_article_exits_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*SHARE]
    argv[1] = "no-such-story"
    code, _, err = run(argv, capsys)
    assert (code, err) == (2, "error: unknown article 'no-such-story'\n")


def test_share_queues_a_job(env: Path, capsys: pytest.CaptureFixture[str],
                            redis_client: redis.Redis) -> None:
    code, out, _ = run(SHARE, capsys)
    assert code == 0
    assert redis_client.llen("share") == 1
    code, out2, _ = run(["job", out.strip()], capsys)
    assert code == 0
    assert json.loads(out2)["status"] == "queued"


def test_redis_down_exits_3(env: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAILER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code, _, err = run(SHARE, capsys)
    assert code == 3
    assert len(err.splitlines()) == 1 and "Redis" in err and "not answering" in err


def test_preview_works_before_the_database_is_set_up(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path))
    code, out, err = run(["preview", "share", ARTICLE, "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "using the seed articles only" in err
    assert "create the database with `mailer db upgrade`" in err
    paths = [Path(p) for p in out.split()]
    assert [p.suffix for p in paths] == [".html", ".txt", ".eml"]
    assert "Non-Aligned Movement" in paths[0].read_text(encoding="utf-8")
    preview = paths[0].read_text(encoding="utf-8")
    assert preview.count("<style") == 1 and "prefers-color-scheme: dark" in preview


def test_articles_import_and_list(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = env / "feed.jsonl"
    row = {"title": "Baku hosts a summit", "section": "Politics",
           "published": "2026-11-27T09:00:00+04:00", "url": "https://www.today.az/summit.html",
           "lead": "Leaders meet in Baku."}
    feed.write_text(json.dumps(row) + "\n" + json.dumps({**row, "lead": "Updated."}) + "\n",
                    encoding="utf-8")
    assert run(["articles", "import", str(feed)], capsys)[:2] == (
        0, f"imported 1 article(s) from {feed}\n")
    code, out, _ = run(["articles", "list"], capsys)
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [r[0] for r in rows] == ["baku-hosts-a-summit", ARTICLE]
    assert run(["preview", "share", "baku-hosts-a-summit", "--out", str(env)], capsys)[0] == 0
    assert "Updated." in (env / "share-baku-hosts-a-summit.txt").read_text(encoding="utf-8")


def test_import_of_a_bad_file_names_the_line(env: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    feed = env / "bad.jsonl"
    feed.write_text('{"title": "x", "section": "P"}\n', encoding="utf-8")
    code, _, err = run(["articles", "import", str(feed)], capsys)
    assert code == 2
    assert err.startswith("error: bad.jsonl:1: published: Field required")


def test_usage_error_exits_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["share", ARTICLE], capsys)
    assert code == 2
    assert "Missing option '--sender-name'" in err


def test_digest_preview_of_the_seed_edition(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path))
    code, out, _ = run(["digest", "preview", "--date", "2020-10-28", "--sections", "Politics",
                        "--out", str(tmp_path)], capsys)
    assert code == 0
    html_path, text_path = (Path(p) for p in out.split())
    assert "Non-Aligned Movement" in html_path.read_text(encoding="utf-8")
    assert text_path.read_text(encoding="utf-8").startswith(
        "Subject: TODAY.AZ, 28 October: Non-Aligned Movement support to Azerbaijan…\n")
    code, _, err = run(["digest", "preview", "--date", "2020-10-29"], capsys)
    assert code == 2 and "no articles on 2020-10-29" in err
    code, _, err = run(["digest", "preview", "--date", "yesterday"], capsys)
    assert (code, err) == (2, "error: --date: 'yesterday' is not a date like 2020-10-28\n")


def test_digest_run_queues_the_edition_once(env: Path, capsys: pytest.CaptureFixture[str],
                                            redis_client: redis.Redis) -> None:
    assert run(["subscribers", "add", "a@example.com", "--confirmed"], capsys)[0] == 0
    argv = ["digest", "run", "--date", "2020-10-28", "--no-wait"]
    assert run(argv, capsys)[1] == ("edition 2020-10-28: 1 digest(s) queued in 1 batch(es); "
                                    "0 subscriber(s) without articles\n")
    assert run(argv, capsys)[1].startswith("edition 2020-10-28: 0 digest(s) queued")
    assert redis_client.llen("digest") == 1
