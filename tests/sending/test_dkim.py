"""DKIM: every kind of message signed, and verified against the public keys `mailer dkim
keygen` prints: RSA by dkimpy's own verifier, Ed25519 by RFC 8463's procedure
(tests/sending/rfc8463.py); a changed byte breaks each signature."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mailer.config import Settings
from mailer.digest.plan import Variant
from mailer.errors import ConfigError
from mailer.sending.dkim import DkimKey, DkimSigner, load_signer
from mailer.sending.message import Envelope
from mailer.sending.mime import dot_stuff, fold
from mailer.services import make_digest_mail, make_renderer, make_signer
from mailer.share.mail import build_share_envelope
from mailer.share.request import validate_share
from tests.digest.test_compose import ARTICLES, EDITION, subscriber
from tests.sending.rfc8463 import (
    EXAMPLE,
    EXAMPLE_ED25519,
    EXAMPLE_RSA,
    EXAMPLE_SEED,
    signed_data,
    verify_ed25519,
)
from tests.support.cli import run

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
Keys = tuple[Path, str, Path, str]  # RSA key file and record, Ed25519 key file and record


def keygen(capsys: pytest.CaptureFixture[str], tmp_path: Path, selector: str,
           *options: str) -> tuple[Path, str]:
    code, out, _ = run(["dkim", "keygen", "--selector", selector, "--domain", "today.az",
                        *options], capsys)
    assert code == 0
    key = tmp_path / "dkim" / f"{selector}.today.az.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert out.splitlines()[-1].startswith(f"{selector}._domainkey.today.az. IN TXT")
    return key, "".join(re.findall(r'"([^"]*)"', out.splitlines()[-1]))


@pytest.fixture
def keyed(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
          ) -> tuple[Path, str]:
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path))
    key, record = keygen(capsys, tmp_path, "news2026")
    assert record.startswith("v=DKIM1; k=rsa; p=")
    return key, record


@pytest.fixture
def both(keyed: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Keys:
    """An RSA key and an Ed25519 key beside it."""
    key, record = keygen(capsys, tmp_path, "ed2026", "--algorithm", "ed25519")
    # RFC 8463 4.2: the bare 32-byte key, 44 characters of base64.
    assert re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", record)
    return (*keyed, key, record)


def verify(data: bytes, record: str) -> bool:
    """dkimpy's verdict on the topmost signature: RSA's, which every receiver knows."""
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news2026._domainkey.today.az."
        return record.encode()
    return bool(dkim.verify(data, dnsfunc=dns))


def verify_both(data: bytes, keys: Keys) -> bool:
    assert re.findall(rb"(?m)^DKIM-Signature: v=1; a=([a-z0-9-]+);", data) == [
        b"rsa-sha256", b"ed25519-sha256"]
    return verify(data, keys[1]) and verify_ed25519(data, keys[3], 1)


def signer_of(keys: Keys, make_settings: Callable[..., Settings]) -> DkimSigner:
    signer = make_signer(make_settings(dkim_key_file=keys[0], dkim_selector="news2026",
                                       dkim_ed25519_key_file=keys[2],
                                       dkim_ed25519_selector="ed2026"))
    assert signer is not None
    return signer


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
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="MAILER_DKIM_KEY_FILE: cannot read an RSA private"):
        load_signer(bad, "today.az", "mail")


def test_keygen_refuses_to_overwrite(keyed: tuple[Path, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["dkim", "keygen", "--selector", "news2026", "--domain", "today.az"],
                       capsys)
    assert code == 2 and "exists: choose a new selector" in err


def test_the_7bit_form_for_a_relay_without_8bitmime_is_signed_too(
        both: Keys, make_settings: Callable[..., Settings]) -> None:
    """A signature over the 8bit body would fail once re-encoded: the 7-bit form a
    relay without 8BITMIME gets carries signatures of its own, and they verify."""
    signer = signer_of(both, make_settings)
    for envelope in (share_envelope(make_settings()), digest_envelope(make_settings())):
        seven = signer.sign(envelope).as_7bit()
        assert seven.isascii() and b"quoted-printable" in seven
        assert verify_both(seven.replace(b"\r\n..", b"\r\n."), both)


def test_with_an_ed25519_key_every_message_carries_both_signatures_rsa_first(
        both: Keys, make_settings: Callable[..., Settings]) -> None:
    signer = signer_of(both, make_settings)
    for envelope in (share_envelope(make_settings()), digest_envelope(make_settings())):
        data = signer.sign(envelope).content()
        assert verify_both(data, both), data[:900]
        tampered = data.replace(b"Leyla", b"Lejla").replace(b"Read this.", b"Read that.")
        assert tampered != data
        assert not verify(tampered, both[1]) and not verify_ed25519(tampered, both[3], 1)


def test_the_rfc_8463_example() -> None:
    """The RFC's signed message passes the Ed25519 check the tests use (and its RSA
    signature dkimpy's, so the message is as published), and our signing, given the
    RFC's key and the same signed data, makes the RFC's signature (Ed25519 is
    deterministic)."""
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"test._domainkey.football.example.com."
        return EXAMPLE_RSA.encode()

    assert dkim.DKIM(EXAMPLE).verify(idx=1, dnsfunc=dns)
    assert verify_ed25519(EXAMPLE, EXAMPLE_ED25519, 0)
    assert not verify_ed25519(EXAMPLE.replace(b"hungry", b"angry"), EXAMPLE_ED25519, 0)
    key = DkimKey.of(Ed25519PrivateKey.from_private_bytes(base64.b64decode(EXAMPLE_SEED)),
                     "football.example.com", "brisbane")
    assert key.tags.startswith(b"v=1; a=ed25519-sha256; c=relaxed/relaxed;")
    tags, data, _ = signed_data(EXAMPLE, 0)
    assert base64.b64encode(key.sign(data)) == re.sub(rb"\s+", b"", tags[b"b"])


HEAD = b"From: News <news@today.az>\r\nTo: Reader <reader@example.org>\r\n" \
       b"Date: Thu, 26 Nov 2026 07:00:00 +0400\r\nMessage-ID: <x@today.az>\r\n"
SHAPES = {
    "white space runs, tabs, trailing blank lines": HEAD + b"Subject: Hi\r\n\r\n"
    b"a  b\t\tc   \r\n\t indented\r\nend \t\r\n\r\n \r\n\r\n",
    "dots at line starts": HEAD + b"Subject: Hi\r\n\r\n.\r\n..two\r\n. \r\n.",
    "a long folded subject": HEAD + fold("Subject", "Azerbaijan and its neighbours " * 12)
    + b"\r\nbody\r\n",
    "white space in headers": b"From:  News \t<news@today.az> \r\nSubject:\tHi\r\n"
    b"  there\r\nTo: r@example.org\r\n\r\nbody",
    "SMTPUTF8": HEAD.replace(b"Reader <reader@", "Rəşad <rəşad@".encode())
    + "Subject: Salam, Rəşad\r\n\r\nXoş gəldiniz\r\n".encode(),
    "no body": HEAD + b"Subject: Hi\r\n",
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("wire_ready", [False, True])
def test_messages_of_every_shape_verify(shape: str, wire_ready: bool, both: Keys,
                                        make_settings: Callable[..., Settings]) -> None:
    """Signed as handed over: plain, or dot-stuffed for SMTP (signed as the reader
    gets it, un-stuffed)."""
    message = SHAPES[shape]
    envelope = Envelope(dot_stuff(message) if wire_ready else message, "news@today.az",
                        "reader@example.org", wire_ready=wire_ready)
    data = signer_of(both, make_settings).sign(envelope).content()
    assert data.endswith(message)
    assert verify_both(data, both), data
    if b"body" in message:
        assert not verify_both(data.replace(b"body", b"bodY"), both)


def test_ed25519_settings_are_checked(both: Keys, make_settings: Callable[..., Settings]
                                      ) -> None:
    rsa_key, _, ed_key, _ = both
    with pytest.raises(ConfigError, match="MAILER_DKIM_ED25519_KEY_FILE: needs "
                                          "MAILER_DKIM_KEY_FILE"):
        make_signer(make_settings(dkim_ed25519_key_file=ed_key))
    with pytest.raises(ConfigError, match="MAILER_DKIM_ED25519_SELECTOR: must differ"):
        load_signer(rsa_key, "today.az", "mail", ed_key, "mail")
    with pytest.raises(ConfigError, match=r"MAILER_DKIM_ED25519_KEY_FILE: .* is not an "
                                          "Ed25519 private key"):
        load_signer(rsa_key, "today.az", "mail", rsa_key, "ed")
    with pytest.raises(ConfigError, match=r"MAILER_DKIM_KEY_FILE: .* is not an RSA"):
        load_signer(ed_key, "today.az", "mail")


def test_keygen_takes_no_bits_for_ed25519(keyed: tuple[Path, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["dkim", "keygen", "--algorithm", "ed25519", "--bits", "2048"], capsys)
    assert code == 2 and "--bits" in err
