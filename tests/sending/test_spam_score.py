"""Every e-mail we send, through SpamAssassin's local rules (`spamassassin -L -t`, no
network tests), must score under 2.0: what a real filter makes of our templates.

`.ci/run` installs Debian's spamassassin package so CI always runs this; elsewhere the
test is skipped with a one-line reason."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

from mailer import services
from mailer.config import Settings
from mailer.sending.message import Envelope
from mailer.services import make_catalog, make_signer, make_template_mail, make_tokens
from mailer.subscriptions.model import Preferences, SignUp
from mailer.subscriptions.signup import ConfirmMail
from tests.sending.test_dkim import digest_envelope, share_envelope

LIMIT = 2.0
SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(SPAMASSASSIN is None, reason="spamassassin is not installed "
                                "(Debian package spamassassin; .ci/run installs it)")


def score(data: bytes) -> tuple[float, str]:
    assert SPAMASSASSIN is not None
    done = subprocess.run([SPAMASSASSIN, "-L", "-t"], input=data, capture_output=True,
                          timeout=120, check=True)
    out = done.stdout.decode("utf-8", "replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+) required=[\d.]+\s+"
                       r"tests=(.*?)(?:autolearn|version)", out, re.M | re.S)
    assert status, out[:2000]
    return float(status.group(1)), " ".join(status.group(2).split())


def confirm_envelope(settings: Settings) -> Envelope:
    stores = services.stores(settings, seed=False)
    person, _ = stores.subscribers.sign_up(
        SignUp("leyla@example.org", "Leyla", Preferences(("politics",), "Asia/Baku", 7)),
        resend_after=__import__("datetime").timedelta(0))
    mail = ConfirmMail(store=stores.subscribers, tokens=make_tokens(settings),
                       mail=make_template_mail(settings), catalog=make_catalog(settings),
                       public_url="https://newsletter.today.az", site_name=settings.site_name,
                       from_email=settings.from_email, domain=settings.site_domain,
                       confirm_hours=48)
    return mail.build(person.id)


@pytest.mark.parametrize("kind", ["share", "confirm", "digest"])
def test_every_template_scores_under_the_limit(kind: str,
                                               make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(public_url="https://newsletter.today.az")
    build = {"share": share_envelope, "confirm": confirm_envelope,
             "digest": digest_envelope}[kind]
    envelope = build(settings)
    signer = make_signer(settings)
    data = (signer.sign(envelope) if signer else envelope).content()
    points, tests = score(data)
    print(f"{kind}: score {points} ({tests})")
    assert points < LIMIT, f"{kind} scored {points}: {tests}"


def test_the_check_sees_spam() -> None:
    """The harness reads real scores: the standard test string (GTUBE) is spam."""
    gtube = (b"From: x@example.org\r\nTo: y@example.org\r\nSubject: test\r\n\r\n"
             b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n")
    points, tests = score(gtube)
    assert points >= 100 and "GTUBE" in tests
