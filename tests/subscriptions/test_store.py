from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from mailer.db import SessionFactory
from mailer.errors import InvalidInput, NotFound
from mailer.models import SubscriberRow, utcnow
from mailer.subscriptions.model import (
    Preferences,
    SectionCatalog,
    SignUp,
    SubscriberStatus,
    validate_signup,
)
from mailer.subscriptions.store import SubscriberStore

CATALOG = SectionCatalog(["Politics", "Economy", "Society"])
DEFAULT = Preferences(("economy", "politics", "society"), "Asia/Baku", 7)
NO_WAIT = timedelta(0)


def signup(email: str = "leyla@example.com", **prefs: object) -> SignUp:
    return validate_signup({"email": email, "name": "Leyla", **prefs}, CATALOG, default=DEFAULT)


@pytest.fixture
def store(sessions: SessionFactory) -> SubscriberStore:
    return SubscriberStore(sessions)


def test_validation_fills_defaults_and_normalises_sections() -> None:
    s = signup(sections=["Politics", " economy ", "POLITICS"])
    assert s.preferences == Preferences(("economy", "politics"), "Asia/Baku", 7)
    assert signup().preferences == DEFAULT
    assert signup(sections="politics,society", hour="21", timezone="Europe/Berlin"
                  ).preferences == Preferences(("politics", "society"), "Europe/Berlin", 21)


@pytest.mark.parametrize(("fields", "errors"), [
    ({"email": "nope"}, {"email": "An email address must have an @-sign."}),
    ({"email": "a@example.com", "sections": ["Sport"]},
     {"sections": "unknown section 'Sport' (choose from Politics, Economy, Society)"}),
    ({"email": "a@example.com", "sections": 5}, {"sections": "must be a list of section names"}),
    ({"email": "a@example.com", "hour": "25"}, {"hour": "must be a whole hour from 0 to 23"}),
    ({"email": "a@example.com", "hour": True}, {"hour": "must be a whole hour from 0 to 23"}),
    ({"email": "a@example.com", "timezone": "Mars/Base"},
     {"timezone": "'Mars/Base' is not a time zone we know: type a city such as "
                      "Baku, or a name such as Asia/Baku"}),
    ({"email": "a@example.com", "name": "A\r\nBcc: x@example.com"},
     {"name": "must be one line"}),
])
def test_validation_errors(fields: dict[str, object], errors: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_signup(fields, CATALOG, default=DEFAULT)
    assert info.value.errors == errors


def test_sign_up_confirm_unsubscribe(store: SubscriberStore) -> None:
    subscriber, send = store.sign_up(signup(), NO_WAIT)
    assert (subscriber.status, send) == (SubscriberStatus.PENDING, True)
    assert store.confirm(subscriber.id).status is SubscriberStatus.ACTIVE
    assert store.confirm(subscriber.id).status is SubscriberStatus.ACTIVE, \
        "confirming twice is harmless"
    assert store.unsubscribe(subscriber.id).status is SubscriberStatus.UNSUBSCRIBED
    with pytest.raises(NotFound, match="sign up again"):
        store.confirm(subscriber.id)


def test_same_address_again_is_one_row(store: SubscriberStore) -> None:
    first, _ = store.sign_up(signup("Leyla@Example.com"), NO_WAIT)
    store.confirm(first.id)
    again, send = store.sign_up(signup("leyla@example.com", sections=["economy"]), NO_WAIT)
    assert again.id == first.id
    assert again.status is SubscriberStatus.ACTIVE, "an active address stays active"
    assert again.preferences.sections == DEFAULT.sections, "only its preferences page changes it"
    assert send, "it gets a note that it is already subscribed"
    assert [s.email for s in store.list()] == ["Leyla@example.com"]


def test_confirmation_mail_is_throttled(store: SubscriberStore) -> None:
    assert store.sign_up(signup(), timedelta(minutes=5))[1] is True
    assert store.sign_up(signup(), timedelta(minutes=5))[1] is False
    assert store.sign_up(signup(), NO_WAIT)[1] is True


def test_a_pending_sign_up_changes_only_with_a_new_confirmation(
        store: SubscriberStore) -> None:
    """The confirmation in the inbox lists what confirming gives: a second sign-up that
    sends no new one (the resend wait) changes nothing; one that does, changes it."""
    first, sent = store.sign_up(signup(sections=("politics",)), timedelta(minutes=5))
    assert sent and first.preferences.sections == ("politics",)
    again, sent = store.sign_up(signup(sections=("economy",)), timedelta(minutes=5))
    assert not sent and again.preferences.sections == ("politics",)
    later, sent = store.sign_up(signup(sections=("economy",)), NO_WAIT)
    assert sent and later.preferences.sections == ("economy",)


def test_sign_up_after_unsubscribe_needs_a_new_confirmation(store: SubscriberStore) -> None:
    subscriber, _ = store.sign_up(signup(), NO_WAIT)
    store.confirm(subscriber.id)
    store.unsubscribe(subscriber.id)
    again, send = store.sign_up(signup(sections=["society"]), NO_WAIT)
    assert (again.id, again.status, send) == (subscriber.id, SubscriberStatus.PENDING, True)
    assert again.preferences.sections == ("society",)


def test_preferences_update(store: SubscriberStore) -> None:
    subscriber, _ = store.sign_up(signup(), NO_WAIT)
    chosen = Preferences(("society",), "Europe/London", 6)
    assert store.update_preferences(subscriber.id, chosen).preferences == chosen
    assert store.get(subscriber.id).preferences == chosen


def test_unconfirmed_sign_ups_expire(store: SubscriberStore, sessions: SessionFactory) -> None:
    old, _ = store.sign_up(signup("old@example.com"), NO_WAIT)
    store.sign_up(signup("fresh@example.com"), NO_WAIT)
    kept, _ = store.sign_up(signup("kept@example.com"), NO_WAIT)
    store.confirm(kept.id)
    with sessions.begin() as session:
        session.execute(update(SubscriberRow).where(SubscriberRow.id.in_([old.id, kept.id]))
                        .values(created_at=utcnow() - timedelta(hours=49)))
    assert store.expire_pending(timedelta(hours=48)) == 1
    assert sorted(s.email for s in store.list()) == ["fresh@example.com", "kept@example.com"]


def test_import_never_undoes_an_unsubscribe(store: SubscriberStore) -> None:
    gone, _ = store.sign_up(signup("gone@example.com"), NO_WAIT)
    store.unsubscribe(gone.id)
    report = store.import_active([signup("new@example.com"), signup("gone@example.com")])
    assert (report.added, report.updated, report.kept_unsubscribed) == (1, 0, 1)
    assert store.get(gone.id).status is SubscriberStatus.UNSUBSCRIBED
    again = store.import_active([signup("new@example.com", hour=9)])
    assert (again.added, again.updated) == (0, 1)
    assert store.find("NEW@example.com").preferences.hour == 9  # type: ignore[union-attr]


def test_delete_forgets_the_address(store: SubscriberStore) -> None:
    subscriber, _ = store.sign_up(signup(), NO_WAIT)
    assert store.delete("LEYLA@example.com")
    assert not store.delete("leyla@example.com")
    with pytest.raises(NotFound):
        store.get(subscriber.id)


def test_import_counts_an_address_once_the_last_line_winning(store: SubscriberStore) -> None:
    pending, _ = store.sign_up(signup("pending@example.com"), NO_WAIT)
    report = store.import_active([signup("dup@example.com", hour=6),
                                  signup("DUP@example.com", hour=8),
                                  signup("pending@example.com")])
    assert (report.added, report.updated, report.kept_unsubscribed) == (1, 1, 0)
    assert store.find("dup@example.com").preferences.hour == 8  # type: ignore[union-attr]
    assert store.get(pending.id).status is SubscriberStatus.ACTIVE
    assert store.get(pending.id).confirmed_at is not None, "consent recorded as of the import"
