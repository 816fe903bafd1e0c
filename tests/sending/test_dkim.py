"""DKIM: every kind of message signed, and verified by dkimpy's own verifier against the
public key `mailer dkim keygen` prints; a changed byte breaks the signature."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest

from mailer.config import Settings
from mailer.digest.plan import Variant
from mailer.sending.dkim import load_signer
from mailer.sending.message import Envelope
from mailer.services import make_digest_mail, make_renderer, make_signer
from mailer.share.mail import build_share_envelope
from mailer.share.request import validate_share
from tests.digest.test_compose import ARTICLES, EDITION, subscriber
from tests.support.cli import run

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"


@pytest.fixture
def keyed(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
          ) -> tuple[Path, str]:
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path))
    code, out, _ = run(["dkim", "keygen", "--selector", "news2026", "--domain", "today.az"],
                       capsys)
    assert code == 0
    key = tmp_path / "dkim" / "news2026.today.az.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    record = "".join(re.findall(r'"([^"]*)"', out.splitlines()[-1]))
    assert out.splitlines()[-1].startswith("news2026._domainkey.today.az. IN TXT")
    assert record.startswith("v=DKIM1; k=rsa; p=")
    return key, record


def verify(data: bytes, record: str) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news2026._domainkey.today.az."
        return record.encode()
    return bool(dkim.verify(data, dnsfunc=dns))


def share_envelope(settings: Settings) -> Envelope:
    share = validate_share({"article_id": ARTICLE, "sender_name": "Aysel",
                            "sender_email": "aysel@example.com", "friend_name": "Vüqar",
                            "friend_email": "vuqar@example.org", "message": "Read this."})
    from mailer.articles.files import read_seed_articles

    article = read_seed_articles(settings.seeds_dir)[0]
    rendered = make_renderer(settings).render(article, share)
    return build_share_envelope(rendered, share, site_name=settings.site_name,
                                from_email=settings.from_email, domain=settings.site_domain)


def digest_envelope(settings: Settings) -> Envelope:
    mail = make_digest_mail(settings)
    template = mail.template(Variant(EDITION, "Asia/Baku", ("politics",)), ARTICLES)
    return mail.envelope(template, subscriber("Leyla", "reader@example.org"),
                         b"Thu, 27 Nov 2026 07:00:00 +0400")


def test_share_and_digest_are_signed_and_verify(
        keyed: tuple[Path, str], make_settings: Callable[..., Settings]) -> None:
    key, record = keyed
    settings = make_settings(dkim_key_file=key, dkim_selector="news2026")
    signer = make_signer(settings)
    assert signer is not None and signer.domain == "today.az"
    for digest, envelope in ((False, share_envelope(settings)),
                             (True, digest_envelope(settings))):
        signed = signer.sign(envelope)
        data = signed.content()
        assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
        assert verify(data, record), data[:600]
        header = data.split(b"\r\n\r\n", 1)[0].decode()
        signed_names = re.search(r"h=([^;]+);", re.sub(r"\s+", "", header))
        assert signed_names is not None
        names = signed_names.group(1).split(":")
        assert {"from", "subject", "date", "message-id", "to"} <= set(names)
        if digest:
            assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(names)
        tampered = data.replace(b"Leyla", b"Lejla") if digest else \
            data.replace(b"Read this.", b"Read that.")
        assert tampered != data and not verify(tampered, record)


def test_a_bad_key_file_is_a_one_line_config_error(tmp_path: Path,
                                                  make_settings: Callable[..., Settings]
                                                  ) -> None:
    from mailer.errors import ConfigError

    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="MAILER_DKIM_KEY_FILE: cannot read an RSA private"):
        load_signer(bad, "today.az", "mail")


def test_keygen_refuses_to_overwrite(keyed: tuple[Path, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["dkim", "keygen", "--selector", "news2026", "--domain", "today.az"],
                       capsys)
    assert code == 2 and "exists: choose a new selector" in err


@pytest.mark.parametrize("body", [
    b"", b"\r\n", b"a  b\t\tc \r\n\r\n\r\n", b"line \t\r\n  indented\r\nlast", b" x \r\n",
    b"a \r\n \r\n", b"a\r\nb \t\r\n", b"tab\there\r\n\t\r\n", b"<p>one two</p>\r\n  <p>x</p>\r\n"])
def test_body_canonicalisation_matches_dkimpy(body: bytes) -> None:
    from dkim.canonicalization import Relaxed

    from mailer.sending.dkim import relaxed_body
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_header_canonicalisation_matches_dkimpy() -> None:
    from dkim.canonicalization import Relaxed

    from mailer.sending.dkim import relaxed_headers
    block = (b"Subject:  Hello \t world  \r\n folded\there\r\nTO: a@b.example\r\n"
             b"X-Empty:\r\nList-Unsubscribe: <https://x.example/u>,\r\n\t<mailto:u@x>")
    headers, _ = dkim.rfc822_parse(block + b"\r\n\r\nbody")
    assert relaxed_headers(block) == [
        (name, value.rstrip(b"\r\n")) for name, value in Relaxed.canonicalize_headers(headers)]


def test_the_7bit_form_for_a_relay_without_8bitmime_is_signed_too(
        keyed: tuple[Path, str], make_settings: Callable[..., Settings]) -> None:
    """A signature over the 8bit body would fail once re-encoded: the 7-bit form a
    relay without 8BITMIME gets carries a signature of its own, and verifies."""
    key, record = keyed
    signer = make_signer(make_settings(dkim_key_file=key, dkim_selector="news2026"))
    assert signer is not None
    for envelope in (share_envelope(make_settings()), digest_envelope(make_settings())):
        seven = signer.sign(envelope).as_7bit()
        assert seven.isascii() and b"quoted-printable" in seven
        assert verify(seven.replace(b"\r\n..", b"\r\n."), record)
