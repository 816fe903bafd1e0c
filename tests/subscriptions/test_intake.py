"""Subscribers from CSV and articles from feeds, through the real `mailer` command."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from mailer.articles.files import read_articles
from mailer.db import session_factory
from mailer.errors import InvalidInput
from mailer.subscriptions.model import SubscriberStatus
from mailer.subscriptions.store import SubscriberStore
from tests.conftest import empty_database
from tests.support.cli import run

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>TODAY.AZ</title><link>https://www.today.az</link>
<item>
  <title>Baku hosts a summit on   water</title>
  <link>https://www.today.az/news/politics/201290.html</link>
  <category>Politics</category>
  <author>news@today.az (Vafa Ismayilova)</author>
  <pubDate>Wed, 28 Oct 2020 14:15:00 GMT</pubDate>
  <description>&lt;p&gt;Leaders &lt;b&gt;meet&lt;/b&gt; in Baku.&lt;/p&gt;
    &lt;script&gt;x()&lt;/script&gt;</description>
</item>
<item>
  <title>Manat holds steady</title>
  <link>https://www.today.az/news/business/201291.html</link>
  <pubDate>Wed, 28 Oct 2020 15:00:00 +0400</pubDate>
  <description>The currency is stable.</description>
</item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Azernews</title>
<id>urn:x</id><updated>2020-10-28T18:15:00+04:00</updated>
<entry>
  <title>Non-Aligned Movement support significant</title>
  <link href="https://www.today.az/news/politics/201283.html"/>
  <id>urn:201283</id>
  <updated>2020-10-28T18:15:00+04:00</updated>
  <category term="Politics"/>
  <summary>The NAM supports Azerbaijan.</summary>
  <content type="html">&lt;p&gt;First paragraph.&lt;/p&gt;
    &lt;p&gt;Second paragraph.&lt;/p&gt;</content>
</entry>
</feed>"""



@pytest.fixture
def db_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:
    """The CLI pointed at an empty, migrated database of each backend."""
    with empty_database(database_url):
        pass
    monkeypatch.setenv("MAILER_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path))
    return database_url


def store_for(url: str) -> SubscriberStore:
    from mailer.db import make_engine

    return SubscriberStore(session_factory(make_engine(url)))


def write_csv(path: Path, count: int, bad_every: int) -> list[int]:
    """`count` data rows; every `bad_every`-th has a broken address. Returns bad lines."""
    bad_lines = []
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name", "sections", "timezone", "hour"])
        for i in range(1, count + 1):
            email = f"reader{i}@example.com"
            if i % bad_every == 0:
                email = f"reader{i}@@example.com"
                bad_lines.append(i + 1)
            writer.writerow([email, f"Reader {i}", "politics;economy", "Asia/Baku", i % 24])
    return bad_lines


def test_csv_import_of_10000_rows_keeps_good_and_reports_bad(
        db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.csv"
    bad_lines = write_csv(path, 10_000, bad_every=997)
    code, out, err = run(["subscribers", "import", str(path)], capsys)
    assert code == 0
    assert out.strip() == (f"{10_000 - len(bad_lines)} good row(s): {10_000 - len(bad_lines)} "
                           f"added, 0 updated, 0 kept unsubscribed; {len(bad_lines)} bad row(s)")
    reported = [int(line.split(":")[1].removeprefix("line ")) for line in err.splitlines()]
    assert reported == bad_lines
    assert "email: The part after the @-sign contains invalid characters" in err
    store = store_for(db_env)
    active = store.list(SubscriberStatus.ACTIVE)
    assert len(active) == 10_000 - len(bad_lines)
    reader = store.find("reader5@example.com")
    assert reader is not None
    assert (reader.preferences.sections, reader.preferences.hour) == (("economy", "politics"), 5)

    code, out, _ = run(["subscribers", "import", str(path)], capsys)
    assert code == 0
    assert f"0 added, {10_000 - len(bad_lines)} updated" in out
    assert len(store.list()) == 10_000 - len(bad_lines), "re-import adds nobody"


def test_csv_without_email_header_is_refused(db_env: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.csv"
    path.write_text("address,name\na@example.com,A\n", encoding="utf-8")
    code, _, err = run(["subscribers", "import", str(path)], capsys)
    assert (code, err) == (2, "error: csv: the first line must be a header with an 'email' "
                              "column\n")


def test_csv_broken_past_its_first_rows_imports_nobody(
        db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The file is read while it is imported: a decoding error far into it must still
    leave the database as it was (one transaction), and say so."""
    path = tmp_path / "list.csv"
    write_csv(path, 20_000, bad_every=100_000)
    with path.open("ab") as stream:
        stream.write("late@example.com,Ünal\n".encode("latin-1"))
    code, out, err = run(["subscribers", "import", str(path)], capsys)
    assert (code, out) == (2, "")
    assert err == f"error: PATH: {path} is not UTF-8 text; nothing was imported\n"
    assert store_for(db_env).list() == []


def test_export_round_trips(db_env: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.csv"
    write_csv(path, 5, bad_every=1000)
    run(["subscribers", "import", str(path)], capsys)
    code, out, _ = run(["subscribers", "export", "--status", "active"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["email"] for r in rows] == [f"reader{i}@example.com" for i in range(1, 6)]
    assert rows[0]["sections"] == "economy,politics" and rows[0]["status"] == "active"
    code, out, _ = run(["subscribers", "list"], capsys)
    assert out.splitlines()[0] == "reader1@example.com\tactive\teconomy,politics\t01:00 Asia/Baku"


def test_add_confirmed_and_delete(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["subscribers", "add", "vüqar@bücher.az", "--name", "Vüqar",
                        "--sections", "Politics", "--confirmed"], capsys)
    assert (code, out) == (0, "vüqar@bücher.az: active\n")
    assert run(["subscribers", "delete", "VÜQAR@bücher.az"], capsys)[0] == 0
    code, _, err = run(["subscribers", "delete", "vüqar@bücher.az"], capsys)
    assert (code, err) == (2, "error: no subscriber 'vüqar@bücher.az'\n")


def test_rss_import(tmp_path: Path) -> None:
    path = tmp_path / "today.rss"
    path.write_text(RSS, encoding="utf-8")
    first, second = read_articles(path, section="Economy")
    assert first.id == "news-politics-201290"
    assert first.title == "Baku hosts a summit on water"
    assert first.section == "Politics"
    assert first.lead == "Leaders meet in Baku."
    assert first.published.isoformat() == "2020-10-28T14:15:00+00:00"
    assert first.source == "TODAY.AZ"
    assert second.section == "Economy", "entries without a category take --section"
    assert second.published.isoformat() == "2020-10-28T11:00:00+00:00"


def test_feed_entry_without_category_needs_a_section(tmp_path: Path) -> None:
    path = tmp_path / "today.xml"
    path.write_text(RSS, encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"today\.xml entry 2: no category"):
        read_articles(path)


def test_atom_import_then_reimport_updates(db_env: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "azernews.atom"
    path.write_text(ATOM, encoding="utf-8")
    assert run(["articles", "import", str(path)], capsys)[:2] == (
        0, f"imported 1 article(s) from {path}\n")
    path.write_text(ATOM.replace("First paragraph.", "Corrected paragraph."), encoding="utf-8")
    run(["articles", "import", str(path)], capsys)
    _, out, _ = run(["articles", "list"], capsys)
    ids = [line.split("\t")[0] for line in out.splitlines()]
    assert ids.count("news-politics-201283") == 1
    from mailer.articles.stores import SqlArticleStore
    from mailer.db import make_engine

    article = SqlArticleStore(session_factory(make_engine(db_env))).get("news-politics-201283")
    assert article.body == ("Corrected paragraph.", "Second paragraph.")
    assert article.lead == "The NAM supports Azerbaijan."


def test_not_a_feed(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text("<html>no feed here</html>", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"broken\.xml: not an RSS or Atom feed"):
        read_articles(path)


def test_an_export_runs_no_formula_in_a_spreadsheet_and_imports_as_it_was(
        db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["=SUM(1+2)", "+7 994 555", "-minus", "@cmd", "Plain Name"]
    path = tmp_path / "list.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name"])
        writer.writerows([f"r{i}@example.com", name] for i, name in enumerate(names))
    assert run(["subscribers", "import", str(path)], capsys)[0] == 0
    code, out, _ = run(["subscribers", "export"], capsys)
    assert code == 0
    cells = {r["email"]: r["name"] for r in csv.DictReader(io.StringIO(out))}
    assert cells == {"r0@example.com": "'=SUM(1+2)", "r1@example.com": "'+7 994 555",
                     "r2@example.com": "'-minus", "r3@example.com": "'@cmd",
                     "r4@example.com": "Plain Name"}
    exported = tmp_path / "export.csv"
    exported.write_text(out, encoding="utf-8")
    store = store_for(db_env)
    for reader in store.list():
        store.delete(reader.email)
    assert run(["subscribers", "import", str(exported)], capsys)[0] == 0
    assert sorted(s.name for s in store.list()) == sorted(names)


def test_an_oversized_field_is_a_bad_row_not_the_end_of_the_import(
        db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,name\na@example.com,A\nb@example.com," + "x" * 300_000
                    + "\nc@example.com,C\n", encoding="utf-8")
    code, out, err = run(["subscribers", "import", str(path)], capsys)
    assert code == 0, err
    assert "2 good row(s)" in out and "1 bad row(s)" in out
    assert err.startswith(f"{path.name}:line 3: not a CSV row the import can read")
    assert sorted(s.email for s in store_for(db_env).list()) == ["a@example.com",
                                                                   "c@example.com"]


def test_reimporting_an_export_keeps_double_opt_in(
        db_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "export.csv"
    path.write_text("email,name,sections,timezone,hour,status,created_at,confirmed_at\n"
                    "on@example.com,On,politics,Asia/Baku,7,active,,\n"
                    "waiting@example.com,W,politics,Asia/Baku,7,pending,,\n"
                    "left@example.com,L,politics,Asia/Baku,7,unsubscribed,,\n",
                    encoding="utf-8")
    code, out, err = run(["subscribers", "import", str(path)], capsys)
    assert code == 0 and "1 good row(s)" in out and "2 bad row(s)" in out
    assert "line 3: not imported: the row's status is 'pending'" in err
    assert [s.email for s in store_for(db_env).list()] == ["on@example.com"]
