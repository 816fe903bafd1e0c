"""The intake on real databases (SQLite, and PostgreSQL where configured): what each
kind of returned mail does to the ledger, the suppression list and the subscriber, and
that only our own sealed return path can make it act on anyone."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.inbound.intake import FeedbackIntake
from mailer.inbound.report import Classified, FailedRecipient
from mailer.models import FeedbackRow
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp, unsubscribe_value
from mailer.tokens import Purpose, ReturnPaths
from tests.support.returned import BOUNCES, READER, dsn, sent


def paths(settings: Settings) -> ReturnPaths:
    return ReturnPaths(settings.secret_key.get_secret_value(), BOUNCES)


def feedback_rows(stores: Stores) -> list[FeedbackRow]:
    with stores.sessions.begin() as session:
        rows = list(session.scalars(select(FeedbackRow).order_by(FeedbackRow.received_at)))
        session.expunge_all()
        return rows


def test_a_hard_bounce_suppresses_its_reader_and_marks_the_message_bounced(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    job_id = sent(stores)
    taken = intake.take(dsn(paths(settings).address(job_id), "5.1.1"))
    assert taken.type == "bounce" and [e.action for e in taken.events] == ["suppressed"]
    assert stores.suppressions.suppressed([READER]) == {READER}
    record = stores.ledger.get(job_id)
    assert record is not None and record.status is JobStatus.BOUNCED
    assert "5.1.1" in record.last_reply
    [row] = feedback_rows(stores)
    assert (row.token, row.message_id, row.kind, row.hard) == ("ours", job_id, "digest", True)


@pytest.mark.parametrize("forge", ["altered", "plain", "foreign-key", "stale"])
def test_a_bounce_without_our_sealed_return_path_suppresses_no_one(
        settings: Settings, stores: Stores, intake: FeedbackIntake, forge: str) -> None:
    job_id = sent(stores)
    good = paths(settings).address(job_id)
    to = {"altered": good[:10] + ("b" if good[10].lower() == "a" else "a") + good[11:],
          "plain": BOUNCES,
          "foreign-key": ReturnPaths("another-secret-key-0123", BOUNCES).address(job_id),
          "stale": paths(settings).address(job_id, today=date.today() - timedelta(days=90)),
          }[forge]
    taken = intake.take(dsn(to, "5.1.1"))
    assert [e.action for e in taken.events] == ["untrusted"]
    assert stores.suppressions.suppressed([READER]) == set()
    record = stores.ledger.get(job_id)
    assert record is not None and record.status is JobStatus.SENT


def test_soft_bounces_suppress_only_when_they_come_in_a_row(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    def soft() -> str:
        return intake.take(dsn(paths(settings).address(sent(stores)), "4.2.2",
                               diagnostic="452 4.2.2 mailbox full")).events[0].action
    assert [soft(), soft()] == ["counted", "counted"]
    sent(stores)  # delivered in between, and never bounced: the count starts again
    assert [soft(), soft()] == ["counted", "counted"]
    assert stores.suppressions.suppressed([READER]) == set()
    assert soft() == "unreachable"
    assert stores.suppressions.suppressed([READER]) == {READER}


def test_a_delay_warning_suppresses_no_one(settings: Settings, stores: Stores,
                                           intake: FeedbackIntake) -> None:
    job_id = sent(stores)
    taken = intake.take(dsn(paths(settings).address(job_id), "4.4.1", action="delayed"))
    assert taken.type == "delay" and taken.events[0].action == "counted"
    assert stores.suppressions.suppressed([READER]) == set()


def test_a_refusal_that_names_our_server_blames_no_reader(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    job_id = sent(stores)
    taken = intake.take(dsn(paths(settings).address(job_id), "5.7.1", diagnostic=(
        "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using "
        "zen.spamhaus.org")))
    assert taken.events[0].action == "blames-us"
    assert stores.suppressions.suppressed([READER]) == set()
    assert feedback_rows(stores)[0].domain == "example.org"


def test_refusals_that_blame_us_do_not_count_toward_a_readers_soft_streak(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    for _ in range(3):  # content refusals: our fault, however often
        assert intake.take(dsn(paths(settings).address(sent(stores)), "5.7.1", diagnostic=(
            "550 5.7.1 Message rejected as spam by Content Filtering"))).events[0].action \
            == "blames-us"
    soft = intake.take(dsn(paths(settings).address(sent(stores)), "4.2.2",
                           diagnostic="452 4.2.2 mailbox full"))
    assert soft.events[0].action == "counted"
    assert stores.suppressions.suppressed([READER]) == set()


def arf(to: str) -> bytes:
    return (f"From: feedback@arf.mail.yahoo.com\r\nTo: {to}\r\nSubject: FW: news\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
            f'report-type=feedback-report; boundary="f"\r\n\r\n--f\r\n'
            f"Content-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n--f\r\n"
            f"Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
            f"User-Agent: Yahoo!-Mail-Feedback/1.0\r\nVersion: 1\r\n"
            f"Original-Rcpt-To: {READER}\r\n\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n"
            f"From: news@today.az\r\nTo: {READER}\r\nSubject: Politics, 26 November\r\n"
            f"\r\nThe news.\r\n--f--\r\n").encode()


def test_a_complaint_stops_all_mail_to_its_reader(settings: Settings, stores: Stores,
                                                  intake: FeedbackIntake) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7)))
    taken = intake.take(arf(paths(settings).address(sent(stores))))
    assert taken.type == "complaint" and taken.events[0].action == "complained"
    assert stores.subscribers.get(reader.id).status.value == "unsubscribed"
    assert stores.suppressions.suppressed([READER]) == {READER}
    assert stores.suppressions.refuses_shares(READER)


def test_a_loops_opt_out_report_stops_all_mail_as_a_complaint_does(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7)))
    opt_out = arf(paths(settings).address(sent(stores))).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: opt-out").replace(
        b"Original-Rcpt-To:", b"Removal-Recipient:")
    taken = intake.take(opt_out)
    assert taken.type == "complaint" and taken.events[0].action == "complained"
    assert stores.subscribers.get(reader.id).status.value == "unsubscribed"
    assert stores.suppressions.suppressed([READER]) == {READER}


def test_a_complaint_without_our_return_path_changes_nothing(
        stores: Stores, intake: FeedbackIntake) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7)))
    assert intake.take(arf("abuse@today.az")).events[0].action == "untrusted"
    assert stores.subscribers.get(reader.id).status.value == "active"


def unsubscribe_mail(token: str) -> bytes:
    return (f"From: Leyla <{READER}>\r\nTo: unsubscribe@today.az\r\n"
            f"Subject: unsubscribe {token}\r\n\r\n\r\n").encode()


def test_unsubscribe_mail_unsubscribes_as_the_link_does(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7)))
    forged = intake.take(unsubscribe_mail("not-a-token-at-all"), "unsubscribe@today.az")
    assert forged.events[0].action == "untrusted"
    assert stores.subscribers.get(reader.id).status.value == "active"
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE, reader.id)
    taken = intake.take(unsubscribe_mail(token), "unsubscribe@today.az")
    assert taken.type == "unsubscribe" and taken.events[0].action == "unsubscribed"
    assert stores.subscribers.get(reader.id).status.value == "unsubscribed"


def test_unsubscribe_mail_from_a_weekly_leaves_the_weekly_alone(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7, (("weekly", ("culture",)),))))
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE,
                                                unsubscribe_value(reader.id, "weekly"))
    intake.take(unsubscribe_mail(token), "unsubscribe@today.az")
    left = stores.subscribers.get(reader.id)
    assert (left.status.value, left.preferences.sections, left.preferences.newsletters) == (
        "active", ("politics",), ())


def test_mail_nobody_can_read_is_kept_for_a_person(settings: Settings, stores: Stores,
                                                   intake: FeedbackIntake) -> None:
    raw = (b"From: someone@example.org\r\nTo: bounces@bounces.today.az\r\n"
           b"Subject: hello\r\n\r\nHi!\r\n")
    taken = intake.take(raw)
    assert taken.type == "unknown" and taken.events[0].action == "kept"
    kept = settings.var_dir / "inbound" / "unknown" / taken.events[0].kept_as
    assert kept.read_bytes().endswith(raw)


def test_a_providers_signed_event_vouches_for_the_recipients_it_names(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7)))
    job_id = sent(stores, to="gone@example.org")
    bounced = intake.take_attested(Classified("bounce", (FailedRecipient(
        "gone@example.org", "5.1.1", True, "550 5.1.1 no such user"),), None),
        return_path=paths(settings).address(job_id))
    assert bounced.events[0].action == "suppressed"
    record = stores.ledger.get(job_id)
    assert record is not None and record.status is JobStatus.BOUNCED
    complained = intake.take_attested(Classified("complaint", (FailedRecipient(
        READER, None, False),), None))
    assert complained.events[0].token == "attested"
    assert stores.subscribers.get(reader.id).status.value == "unsubscribed"
    assert stores.suppressions.suppressed([READER, "gone@example.org"]) == {
        READER, "gone@example.org"}


def test_the_same_returned_message_read_twice_counts_once(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    """A poll that re-reads after a crash, or a sender retrying after our 451: the
    second reading does nothing, so three soft bounces are three messages, not one
    message read three times."""
    raw = dsn(paths(settings).address(sent(stores)), "4.2.2",
              diagnostic="452 4.2.2 mailbox full")
    raw = b"Message-ID: <dsn-1@mx.example.org>\r\n" + raw
    first = intake.take(raw)
    again = [intake.take(raw) for _ in range(3)]
    assert not first.repeat and first.events[0].action == "counted"
    assert all(t.repeat and t.events == () and t.type == "bounce" for t in again)
    assert len(feedback_rows(stores)) == 1
    assert stores.suppressions.suppressed([READER]) == set()
