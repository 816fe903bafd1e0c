from __future__ import annotations

import subprocess
import sys

import pytest

from mailer.config import ROOT, load_settings, parse_smtp_url
from mailer.errors import ConfigError


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.redis_url.startswith("redis://")
    assert settings.smtp.host == "127.0.0.1"
    assert settings.timezone == "Asia/Baku"
    assert settings.site_domain == "www.today.az"
    assert settings.inliner == "css_inline"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SITE_NAME", "Example News")
    monkeypatch.setenv("MAILER_SMTP_URL", "smtps://user:p%40ss@relay.example.com?timeout=3")
    monkeypatch.setenv("MAILER_CHECK_DELIVERABILITY", "true")
    settings = load_settings()
    assert settings.site_name == "Example News"
    assert settings.smtp.password == "p@ss"
    assert settings.check_deliverability is True


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("MAILER_SMTP_URL", "ftp://relay", "MAILER_SMTP_URL: unsupported scheme 'ftp'"),
    ("MAILER_SMTP_URL", "smtp://relay?timeout=abc", "MAILER_SMTP_URL: timeout is not a number"),
    ("MAILER_SMTP_URL", "smtp://relay?tls=1", "MAILER_SMTP_URL: unknown option(s) tls"),
    ("MAILER_TIMEZONE", "Mars/Olympus", "MAILER_TIMEZONE: unknown time zone 'Mars/Olympus'"),
    ("MAILER_REDIS_URL", "http://x", "MAILER_REDIS_URL: must start with redis://"),
    ("MAILER_FROM_EMAIL", "not-an-address", "MAILER_FROM_EMAIL: "),
    ("MAILER_SITE_URL", "today.az", "MAILER_SITE_URL: must be an http(s) URL"),
    ("MAILER_CHECK_DELIVERABILITY", "maybe", "MAILER_CHECK_DELIVERABILITY: "),
    ("MAILER_RETRY_HORIZON_HOURS", "0", "MAILER_RETRY_HORIZON_HOURS: "),
    ("MAILER_RATE_LIMIT", "fast", "MAILER_RATE_LIMIT: 'fast' is not a rate like 14/s"),
    ("MAILER_DOMAIN_RATE_LIMITS", "gmail.com", "MAILER_DOMAIN_RATE_LIMITS: 'gmail.com' is not"),
    ("MAILER_SMTP_URL", "smtp://a:25?rate=lots", "MAILER_SMTP_URL: 'lots' is not a rate"),
    ("MAILER_SMTP_URL", "smtp://a:25,smtp://a:25", "MAILER_SMTP_URL: the same relay is named"),
    ("MAILER_INLINER", "magic", "MAILER_INLINER: "),
    ("MAILER_BOUNCE_ADDRESS", "bounces+x@today.az", "MAILER_BOUNCE_ADDRESS: must be a plain"),
    ("MAILER_BOUNCE_ADDRESS", "a-very-long-bounce-mailbox@today.az",
     "MAILER_BOUNCE_ADDRESS: keep the part before the @ to 18"),
    ("MAILER_BOUNCE_ADDRESS", "bounces", "MAILER_BOUNCE_ADDRESS: "),
])
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                      expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message


@pytest.mark.parametrize(("url", "security", "port"), [
    ("smtp://mx.example.com", "none", 25),
    ("smtp+starttls://mx.example.com", "starttls", 587),
    ("smtps://mx.example.com", "tls", 465),
    ("smtp://mx.example.com:2525", "none", 2525),
])
def test_smtp_url_forms(url: str, security: str, port: int) -> None:
    config = parse_smtp_url(url)
    assert (config.security, config.port, config.timeout) == (security, port, 10.0)


def test_smtp_password_not_in_repr() -> None:
    assert "s3cret" not in repr(parse_smtp_url("smtps://u:s3cret@mx.example.com"))


@pytest.mark.parametrize("argv", [
    [sys.executable, "-c", "import worker.celery"],
    [sys.executable, "-m", "mailer.cli", "articles", "list"],
])
def test_entry_points_refuse_bad_settings_with_one_line(argv: list[str]) -> None:
    env = {"PATH": "/usr/bin:/bin", "MAILER_TIMEZONE": "Nowhere/Land", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: MAILER_TIMEZONE: unknown time zone 'Nowhere/Land'"]


@pytest.mark.parametrize(("key", "demo", "refused"), [
    (None, False, True), ("short", False, True), ("a-long-enough-secret-key", False, False),
    (None, True, False)])
def test_secret_key_is_required_outside_the_demo(key: str | None, demo: bool,
                                                  refused: bool) -> None:
    settings = load_settings(demo=demo, **({"secret_key": key} if key else {}))
    if refused:
        with pytest.raises(ConfigError, match="MAILER_SECRET_KEY: set a secret key"):
            settings.check_secrets()
    else:
        settings.check_secrets()
