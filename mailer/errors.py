"""The one error tree of the library.

Every module raises these (wrapping what its own dependencies raise), so the HTTP and
CLI layers can map them to a status or an exit code in one place each.
"""

from __future__ import annotations


class MailerError(Exception):
    """Root of every error the library raises on purpose."""


class ConfigError(MailerError):
    """A setting is missing or malformed; the message names the variable."""


class InvalidInput(MailerError):
    """Input failed validation; `errors` maps each field to a precise message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in self.errors.items()))


class MalformedRequest(InvalidInput):
    """The body is not what its Content-Type says at all (not JSON, not UTF-8): a 400,
    not a 422, since no field could be read."""


class NotFound(MailerError):
    """A thing the caller named does not exist."""


class NothingToSend(NotFound):
    """A message that has no one to go to, by design: a "manage" link asked for an
    address with no subscription. The ledger records it `skipped`, not `failed`."""


class UnknownArticle(NotFound):
    def __init__(self, article_id: str) -> None:
        self.article_id = article_id
        super().__init__(f"unknown article {article_id!r}")


class InvalidToken(MailerError):
    """A signed link was forged, tampered with, or made for another purpose."""


class ExpiredToken(InvalidToken):
    """A signed link was genuine but is too old."""


class Unauthorized(MailerError):
    """The caller did not present the API key an endpoint needs, or a webhook came
    without its signature or credentials; `challenge` is the WWW-Authenticate answer."""

    challenge = "Bearer"


class BasicAuthRequired(Unauthorized):
    """A webhook authenticated by HTTP Basic credentials (Postmark's) came without them."""

    challenge = 'Basic realm="webhooks"'


class Forbidden(MailerError):
    """Credentials or a signature were presented and are wrong, stale or replayed: a
    webhook so refused is never acted on."""


class ServiceUnavailable(MailerError):
    """A backing service (Redis, the broker, the database) did not answer.

    The request was not accepted, so nothing was lost: the caller may try again.
    """

    retry_after = 5


class RateLimited(MailerError):
    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class DeliveryError(MailerError):
    """SMTP did not take a message; `code` is the reply code, 0 for no reply at all;
    `stage` the command that was refused (MAIL FROM, RCPT TO, DATA, connect)."""

    def __init__(self, code: int, reply: str, stage: str = "") -> None:
        self.code = code
        self.reply = reply
        self.stage = stage
        super().__init__(f"{code} {reply}" if code else reply)


class TransientDeliveryError(DeliveryError):
    """Try again later: 4xx replies, timeouts, refused or dropped connections."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: 5xx replies, or an address this relay cannot carry.
    `hard_bounce`: the address itself is gone (see mailer/sending/replies.py, which decides)."""

    def __init__(self, code: int, reply: str, stage: str = "", *,
                 hard_bounce: bool = False) -> None:
        super().__init__(code, reply, stage)
        self.hard_bounce = hard_bounce


class RelayUnavailable(TransientDeliveryError):
    """No session with the relay at all (refused, unreachable, TLS failure): another
    relay of a pool may take the messages."""


class RelayRefused(RelayUnavailable):
    """The relay refused us for its own or our configuration (authentication missing
    or wrong, relaying or access denied): no reader is to blame, the message waits, the
    relay is marked unhealthy and a digest run through it pauses."""


class NotAttempted(TransientDeliveryError):
    """The message never went out: it waits `retry_after` seconds and the wait does not
    count as an attempt."""

    def __init__(self, retry_after: float, reply: str) -> None:
        self.retry_after = retry_after
        super().__init__(0, reply)


class Throttled(NotAttempted):
    """Not sent: the shared send-rate limit has no slot within the caller's wait.

    `scope` is "relay" (the whole relay is busy: so is every message after this one)
    or "domain" (only this recipient's domain is)."""

    def __init__(self, retry_after: float, scope: str, detail: str) -> None:
        self.scope = scope
        super().__init__(retry_after, f"rate limit: {detail}; next slot in {retry_after:.1f} s")
