"""Settings: one object, read from MAILER_* environment variables.

Every field has a working default so the embedded demo runs with nothing configured.
Entry points (API factory, CLI, Celery app) call `load_settings()` once and pass the
result down. Two switches are read from the environment elsewhere, because they must
work when the settings themselves do not load: MAILER_DEBUG (mailer/cli/failure.py:
show the traceback) and MAILER_REDIS_SERVER (mailer/local/embedded.py: which
redis-server binary the embedded stack runs).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailer.errors import ConfigError
from mailer.limits.parsing import Rate, parse_domain_rates, parse_networks, parse_quota, parse_rate

ROOT = Path(__file__).resolve().parent.parent
BOUNCE_LOCAL_MAX = 18  # + '+' + a 45-character token = 64, RFC 5321's limit
ENV_PREFIX = "MAILER_"
_TOPIC_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]{1,40}:\d{12}:[A-Za-z0-9_.-]{1,256}$")

# The brokers Celery's transports serve here: Redis (kombu's redis transport) and
# RabbitMQ (py-amqp).
BROKER_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps"})

DEMO_SECRET = "insecure-demo-key-change-me"
SECRET_MIN = 16

SmtpSecurity = Literal["none", "starttls", "tls"]
_SMTP_SCHEMES: dict[str, tuple[SmtpSecurity, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    cafile: str | None = None
    rate: Rate | None = None  # this relay's send-rate limit, shared by all workers

    @property
    def id(self) -> str:
        """Names the relay's rate-limit bucket: the same on every machine."""
        user = f"{self.username}@" if self.username else ""
        return f"{user}{self.host}:{self.port}"

    def __repr__(self) -> str:  # keeps the password out of logs
        return (f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
                f"username={self.username!r}, timeout={self.timeout})")


def parse_smtp_url(url: str, default_rate: Rate | None = None) -> SmtpConfig:
    """`smtp://host:25`, `smtp+starttls://user:pass@host:587`, `smtps://host:465`.

    Query parameters: `timeout` (seconds), `cafile` (a CA bundle for a private relay)
    and `rate` (this relay's send-rate limit, e.g. `14/s`; default MAILER_RATE_LIMIT).
    """
    parts = urlsplit(url)
    if parts.scheme not in _SMTP_SCHEMES:
        raise ValueError(f"unsupported scheme {parts.scheme!r} (use smtp, smtp+starttls or smtps)")
    security, default_port = _SMTP_SCHEMES[parts.scheme]
    if not parts.hostname:
        raise ValueError("no host")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError("port is not a number from 1 to 65535") from exc
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(options) - {"timeout", "cafile", "rate"}
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} "
                         "(known: timeout, cafile, rate)")
    try:
        timeout = float(options.get("timeout", "10"))
    except ValueError as exc:
        raise ValueError("timeout is not a number") from exc
    if not 0 < timeout <= 600:
        raise ValueError("timeout must be between 0 and 600 seconds")
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
        cafile=options.get("cafile") or None,
        rate=parse_rate(options["rate"]) if "rate" in options else default_rate,
    )


def parse_smtp_urls(text: str, default_rate: Rate | None = None) -> tuple[SmtpConfig, ...]:
    """One relay, or a pool of them separated by commas or spaces."""
    urls = [u for u in re.split(r"[\s,]+", text.strip()) if u]
    if not urls:
        raise ValueError("no SMTP URL")
    relays = tuple(parse_smtp_url(u, default_rate) for u in urls)
    if len({r.id for r in relays}) != len(relays):
        raise ValueError("the same relay is named twice")
    return relays


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""  # empty: the queue lives in MAILER_REDIS_URL's Redis
    database_url: str | None = None
    smtp_url: str = "smtp://127.0.0.1:8025"
    site_name: str = Field("TODAY.AZ", min_length=1, max_length=60)
    site_url: str = "https://www.today.az"
    postal_address: str = Field("", max_length=200)
    logo_url: str = Field("", max_length=500, pattern=r"^(https://\S+)?$")
    privacy_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    from_email: str = "news@today.az"
    secret_key: SecretStr = SecretStr(DEMO_SECRET)
    demo: bool = False
    api_key: SecretStr | None = None
    metrics_token: SecretStr | None = None
    timezone: str = "Asia/Baku"
    sections: str = "Politics,Economy,Society,World,Culture,Sports"
    digest_hour: int = Field(7, ge=0, le=23)
    confirm_max_age_hours: int = Field(48, ge=1)
    confirm_resend_seconds: int = Field(300, ge=0)
    manage_link_hours: int = Field(24, ge=1, le=24 * 30)
    digest_window_hours: int = Field(5, ge=1, le=23)
    digest_batch_size: int = Field(200, ge=1, le=5000)
    digest_plan_minutes: float = Field(15, gt=0, le=60)
    quiet_hours: str = "22-7"
    alert_daily_cap: int = Field(3, ge=1, le=50)
    alert_window_hours: int = Field(6, ge=1, le=24)
    alert_morning_hours: int = Field(18, ge=1, le=48)
    digest_requeue_seconds: int = Field(600, ge=5)
    requeue_seconds: int = Field(600, ge=2)
    sweep_seconds: float = Field(60.0, gt=0)
    digest_record_every: int = Field(20, ge=1, le=500)
    unsubscribe_email: str | None = None
    bounce_address: str = ""
    soft_bounce_limit: int = Field(3, ge=1, le=100)
    soft_bounce_days: int = Field(30, ge=1, le=365)
    ses_topic_arns: str = ""
    ses_confirm_subscriptions: bool = False
    mailgun_signing_key: SecretStr | None = None
    postmark_webhook_user: str = ""
    postmark_webhook_password: SecretStr | None = None
    sendgrid_verification_key: str = ""
    inbound_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    inbound_max_clients: int = Field(50, ge=1, le=10_000)
    inliner: Literal["css_inline", "premailer"] = "css_inline"
    check_deliverability: bool = False
    retry_base_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    retry_horizon_hours: float = Field(48.0, gt=0, le=24 * 30)
    send_lease_seconds: int = Field(300, ge=5)
    rate_limit: str = "none"
    domain_rate_limit: str = "none"
    domain_rate_limits: str = ""
    rate_reserve: float = Field(0.1, ge=0, le=0.9)
    rate_max_wait_seconds: float = Field(2.0, gt=0, le=60)
    share_rate_max_wait_seconds: float = Field(10.0, gt=0, le=300)
    smtp_idle_seconds: float = Field(30.0, gt=0)
    pause_failure_ratio: float = Field(0.1, gt=0, le=1)
    pause_window: int = Field(200, ge=10, le=100_000)
    pause_bounce_ratio: float = Field(0.05, gt=0, le=1)
    pause_complaint_ratio: float = Field(0.003, gt=0, le=1)
    pause_feedback_minimum: int = Field(500, ge=1)
    share_limit_per_ip: str = "10/h"
    share_limit_per_sender: str = "10/h"
    share_limit_per_recipient: str = "3/d"
    share_limit_per_article: str = "100/h"
    share_limit_total: str = "1000/h"
    share_repeat_window_minutes: int = Field(10, ge=0, le=1440)
    signup_limit_per_ip: str = "10/h"
    signup_mails_per_day: int = Field(3, ge=0)  # 0: no cap
    delivery_log: bool = True
    dkim_key_file: Path | None = None
    dkim_selector: str = Field("mail", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    dkim_domain: str | None = None
    dkim_ed25519_key_file: Path | None = None
    dkim_ed25519_selector: str = Field("ed25519", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    trusted_proxies: str = ""
    proxy_header: str = Field("X-Forwarded-For", min_length=1, max_length=64)
    max_body_bytes: int = Field(16_384, ge=1024)
    templates_dir: Path = ROOT / "templates"
    seeds_dir: Path = ROOT / "seeds"
    var_dir: Path = ROOT / "var"
    queue_backend: str = "worker.producer:CeleryJobQueue"

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in BROKER_SCHEMES:
            raise ValueError("must be empty (the Redis of MAILER_REDIS_URL) or start with "
                             "redis://, rediss://, amqp:// or amqps://")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str) -> str:
        parse_smtp_urls(value)
        return value

    @field_validator("rate_limit", "domain_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("share_limit_per_ip", "share_limit_per_sender", "share_limit_per_recipient",
                     "share_limit_per_article", "share_limit_total", "signup_limit_per_ip")
    @classmethod
    def _quota(cls, value: str) -> str:
        parse_quota(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("domain_rate_limits")
    @classmethod
    def _domain_rates(cls, value: str) -> str:
        parse_domain_rates(value)
        return value

    @field_validator("ses_topic_arns")
    @classmethod
    def _topics(cls, value: str) -> str:
        arns = [a for a in re.split(r"[\s,]+", value.strip()) if a]
        for arn in arns:
            if not _TOPIC_ARN.match(arn):
                raise ValueError(f"{arn!r} is not an SNS topic ARN "
                                 "(arn:aws:sns:REGION:ACCOUNT:NAME)")
        return ",".join(arns)

    @field_validator("sendgrid_verification_key")
    @classmethod
    def _ec_key(cls, value: str) -> str:
        if value.strip():
            try:
                key = load_der_public_key(base64.b64decode(value.strip(), validate=True))
            except (ValueError, binascii.Error) as exc:
                raise ValueError(f"not a base64 DER public key ({exc})") from None
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise ValueError("not an ECDSA public key (SendGrid's is P-256)")
        return value.strip()

    @field_validator("site_url", "public_url", "privacy_url")
    @classmethod
    def _site_url(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name == "privacy_url":
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        return value.rstrip("/")

    @field_validator("from_email", "bounce_address")
    @classmethod
    def _from_email(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name == "bounce_address":
            return value
        if info.field_name == "bounce_address":
            local = value.rpartition("@")[0]
            if "+" in local:
                raise ValueError("must be a plain address: the +tag is added per message")
            if len(local) > BOUNCE_LOCAL_MAX:
                raise ValueError(f"keep the part before the @ to {BOUNCE_LOCAL_MAX} characters: "
                                 "a tag of 46 is added per message, and mail servers take 64")
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme.split("+")[0] not in {"sqlite", "postgresql",
                                                                    "postgres"}:
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value or None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        start, dash, end = value.strip().partition("-")
        if not (dash and start.isdigit() and end.isdigit() and 0 <= int(start) <= 23
                and 0 <= int(end) <= 23):
            raise ValueError("must be two whole hours from 0 to 23, like 22-7")
        return f"{int(start)}-{int(end)}"

    @field_validator("sections")
    @classmethod
    def _sections(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names:
            raise ValueError("must name at least one section, comma-separated")
        return ",".join(names)

    @field_validator("queue_backend")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError("must look like 'package.module:ClassName'")
        return value

    def check_secrets(self) -> None:
        """The API and the workers sign and check links: outside the embedded demo they
        refuse to start on the built-in key (anyone could forge unsubscribe links) or a
        short one."""
        if self.demo:
            return
        key = self.secret_key.get_secret_value()
        if key == DEMO_SECRET or len(key) < SECRET_MIN:
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY: set a secret key of at least {SECRET_MIN} "
                "characters (the built-in one is for `mailer demo` only); e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'")

    @property
    def smtp_relays(self) -> tuple[SmtpConfig, ...]:
        return parse_smtp_urls(self.smtp_url, parse_rate(self.rate_limit))

    @property
    def smtp(self) -> SmtpConfig:
        """The first relay: the one tools that send a single message use."""
        return self.smtp_relays[0]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def confirm_resend_after(self) -> timedelta:
        """A sign-up again sooner than this after the last confirmation e-mail sends
        no new one."""
        return timedelta(seconds=self.confirm_resend_seconds)

    @property
    def site_domain(self) -> str:
        return urlsplit(self.site_url).hostname or "localhost"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def broker(self) -> str:
        """Where the task queue lives: MAILER_BROKER_URL, or the Redis of
        MAILER_REDIS_URL (one server for everything, as the embedded stack runs)."""
        return self.broker_url or self.redis_url

    @property
    def broker_name(self) -> str:
        """What error lines call the broker: `RabbitMQ` or `Redis`."""
        return "RabbitMQ" if urlsplit(self.broker).scheme.startswith("amqp") else "Redis"

    @property
    def database(self) -> str:
        """MAILER_DATABASE_URL, or a SQLite file under the var directory."""
        return self.database_url or f"sqlite:///{self.var_dir / 'mailer.db'}"

    @property
    def signing_domain(self) -> str:
        """DKIM's d=: MAILER_DKIM_DOMAIN, or the From domain (what DMARC aligns with)."""
        return self.dkim_domain or self.from_email.rpartition("@")[2]

    @property
    def unsubscribe_mailbox(self) -> str:
        """The mailto: of List-Unsubscribe; by default unsubscribe@ the From domain."""
        return self.unsubscribe_email or f"unsubscribe@{self.from_email.rpartition('@')[2]}"

    @property
    def ses_topics(self) -> frozenset[str]:
        return frozenset(a for a in self.ses_topic_arns.split(",") if a)

    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(self.sections.split(","))


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and `overrides`), or fail with one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = first["msg"].removeprefix("Value error, ")
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{ENV_PREFIX}{field.upper()}: {message}{extra}") from None
