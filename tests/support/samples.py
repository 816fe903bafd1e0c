"""One e-mail of every kind, built by the code that builds them for real (renderers,
ConfirmMail on a real subscriber store: confirmation, welcome, manage link; the digest
composer), for the browser suite and docs/screenshots.py."""

from __future__ import annotations

import email
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import default

from mailer.articles.model import Article
from mailer.config import Settings
from mailer.digest.plan import Variant
from mailer.services import (
    make_catalog,
    make_digest_mail,
    make_offer,
    make_renderer,
    make_template_mail,
    make_tokens,
)
from mailer.share.request import validate_share
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.subscriptions.signup import ConfirmMail

SEED_ID = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
EMAILS = ("share", "confirm", "subscribed", "welcome", "manage", "digest-one", "digest-many",
          "weekly", "alert")

# Stories of the seed article's day in the other sections, for a digest of several.
_MORE = [
    ("gdp-nine-months", "Economy", 9, "Azerbaijan's economy grew 2.1% in nine months, "
     "the statistics committee says"),
    ("metro-green-line", "Society", 11, "Baku metro's Green Line to get three new stations "
     "by 2025"),
    ("un-general-assembly", "World", 13, "UN General Assembly adopts resolution on "
     "protecting civilians in armed conflict"),
    ("mugham-festival", "Culture", 15, "International Mugham Festival opens in Shusha with "
     "musicians from 12 countries"),
    ("neftchi-away-win", "Sports", 20, "Neftchi win away match against Sabah in the Premier "
     "League"),
    ("parliament-budget", "Politics", 10, "Parliament begins debate on the 2021 state budget"),
    # One long word, as names and compounds come: it must wrap, not widen the e-mail.
    ("commission-name", "Society", 12, "Commission renamed "
     "AzərbaycanRespublikasınınDövlətStatistikaKomitəsininRegionalŞöbəsi"),
]


def digest_articles(seed: Article) -> list[Article]:
    """The seed and stories of its day in every section."""
    day = seed.published
    stories = [seed]
    for slug, section, hour, title in _MORE:
        stories.append(Article.model_validate({
            "id": slug, "title": title, "section": section, "url": f"{seed.url}#{slug}",
            "published": day.replace(hour=hour, minute=5).isoformat(),
            "lead": f"{title}. The full story is on TODAY.AZ, with comments and photos.",
        }))
    return stories


def html_of(message: EmailMessage | bytes) -> str:
    parsed = message if isinstance(message, EmailMessage) else \
        email.message_from_bytes(message, policy=default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def sample_emails(settings: Settings, stores: Stores) -> dict[str, str]:
    """{name in EMAILS: the HTML a mail client gets}."""
    seed = stores.articles.get(SEED_ID)
    share = validate_share({"article_id": SEED_ID, "sender_name": "Aysel Məmmədova",
                            "sender_email": "aysel@example.com",
                            "friend_name": "Vüqar Əliyev", "friend_email": "vuqar@example.org",
                            "message": "Worth reading: the NAM statement is quoted in full."})
    emails = {"share": make_renderer(settings).render(seed, share).html}
    confirm = ConfirmMail(store=stores.subscribers, tokens=make_tokens(settings),
                          mail=make_template_mail(settings), catalog=make_catalog(settings),
                          public_url=settings.public_url, site_name=settings.site_name,
                          from_email=settings.from_email, domain=settings.site_domain,
                          confirm_hours=settings.confirm_max_age_hours,
                          describe=make_offer(settings, stores).describe)
    person, _ = stores.subscribers.sign_up(
        SignUp("leyla@example.org", "Leyla", Preferences(
            ("politics", "world"), "Asia/Baku", 7,
            (("breaking", ("politics",)), ("weekly", ("culture", "economy"))))),
        resend_after=timedelta(0))
    emails["confirm"] = html_of(confirm.build(person.id).message)
    stores.subscribers.confirm(person.id)
    emails["subscribed"] = html_of(confirm.build(person.id).message)
    emails["welcome"] = html_of(confirm.build_welcome(person.id).message)
    emails["manage"] = html_of(confirm.build_manage(person.email).message)
    edition: date = seed.published.date()
    mail = make_digest_mail(settings)
    links = {"unsubscribe_url": f"{settings.public_url}/unsubscribe/SAMPLE",
             "preferences_url": f"{settings.public_url}/preferences/SAMPLE"}
    emails["digest-one"] = mail.render(Variant(edition, "Asia/Baku", ("politics",)), [seed],
                                       salutation="Good morning, Leyla,", **links)[1]
    every = tuple(sorted(make_catalog(settings).names))
    emails["digest-many"] = mail.render(Variant(edition, "Asia/Baku", every),
                                        digest_articles(seed), salutation="Good morning, Leyla,",
                                        **links)[1]
    emails["weekly"] = mail.render(
        Variant(edition, "Asia/Baku", every, "weekly", 7, "The week in review"),
        digest_articles(seed), salutation="Good morning, Leyla,", **links)[1]
    emails["alert"] = mail.render(
        Variant(edition, "Asia/Baku", ("politics",), "breaking", 1, "Breaking news",
                template="alert"), [seed], salutation="Good afternoon, Leyla,", **links)[1]
    return emails
