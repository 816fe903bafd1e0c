"""The newsletters table and readers' choices in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailer.db import SessionFactory
from mailer.errors import InvalidInput, NotFound
from mailer.newsletters.model import DAILY, Cadence, Newsletter
from mailer.newsletters.store import NewsletterStore
from mailer.subscriptions.model import Preferences, SignUp
from mailer.subscriptions.store import SubscriberStore

POLITICS_WEEKLY = Newsletter("politics-weekly", "Politics weekly", Cadence.WEEKLY,
                             ("politics",), weekday=4, position=5)


def test_a_new_database_offers_the_daily_digest_the_weekly_and_breaking_news(
        sessions: SessionFactory) -> None:
    slugs = [n.slug for n in NewsletterStore(sessions).list()]
    assert slugs == [DAILY, "weekly", "breaking"]


def test_newsletters_are_added_changed_and_removed(sessions: SessionFactory) -> None:
    store = NewsletterStore(sessions)
    store.add(POLITICS_WEEKLY)
    assert store.get("politics-weekly") == POLITICS_WEEKLY
    with pytest.raises(InvalidInput, match="exists already"):
        store.add(POLITICS_WEEKLY)
    store.update(Newsletter("politics-weekly", "Politics on Fridays", Cadence.WEEKLY,
                            ("politics", "world"), weekday=4, sender_name="TODAY.AZ Politics"))
    assert store.get("politics-weekly").sender_name == "TODAY.AZ Politics"
    assert store.remove("politics-weekly") == 0
    with pytest.raises(NotFound):
        store.get("politics-weekly")
    with pytest.raises(InvalidInput, match="cannot be removed"):
        store.remove(DAILY)


def signup(email: str, sections: tuple[str, ...], **newsletters: tuple[str, ...]) -> SignUp:
    return SignUp(email, "", Preferences(sections, "Asia/Baku", 7,
                                         tuple(sorted(newsletters.items()))))


def test_one_sign_up_carries_every_newsletter_chosen(sessions: SessionFactory) -> None:
    NewsletterStore(sessions).add(POLITICS_WEEKLY)
    subscribers = SubscriberStore(sessions)
    pending, _ = subscribers.sign_up(signup("leyla@example.com", (), weekly=("culture",),
                                            **{"politics-weekly": ("politics",)}),
                                     timedelta(minutes=5))
    assert pending.preferences.newsletters == (("politics-weekly", ("politics",)),
                                               ("weekly", ("culture",)))
    assert subscribers.readers_by_newsletter() == {DAILY: 0}, "pending readers get nothing"
    confirmed = subscribers.confirm(pending.id)
    assert confirmed.preferences == pending.preferences
    assert subscribers.readers_by_newsletter() == {DAILY: 0, "politics-weekly": 1,
                                                   "weekly": 1}
    changed = subscribers.update_preferences(pending.id, Preferences(
        ("economy",), "Asia/Baku", 7, (("weekly", ("culture", "economy")),)))
    assert subscribers.get(pending.id).preferences == changed.preferences
    assert changed.preferences.chosen("politics-weekly") == ()
    assert subscribers.readers_by_newsletter() == {DAILY: 1, "weekly": 1}


def test_removing_a_newsletter_removes_readers_choices_in_it(
        sessions: SessionFactory) -> None:
    subscribers = SubscriberStore(sessions)
    reader = subscribers.add_active(signup("leyla@example.com", ("politics",),
                                           weekly=("culture",)))
    assert NewsletterStore(sessions).remove("weekly") == 1
    assert subscribers.get(reader.id).preferences.newsletters == ()
    assert subscribers.get(reader.id).preferences.sections == ("politics",)


def test_a_subscriber_erased_takes_their_choices_along(sessions: SessionFactory) -> None:
    subscribers = SubscriberStore(sessions)
    subscribers.add_active(signup("leyla@example.com", (), weekly=("culture",)))
    assert subscribers.delete("leyla@example.com")
    assert subscribers.readers_by_newsletter() == {DAILY: 0}
    assert subscribers.get_many([]) == {}
