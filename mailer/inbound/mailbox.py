"""Returned mail from an IMAP mailbox (`mailer inbound poll`), for sites whose bounce
address is a hosted mailbox rather than a server of their own.

A message leaves the folder only after the intake has committed what it made of it,
so a crash in between reads it again on the next pass; the intake's effects are
idempotent (suppressing or marking bounced twice changes nothing). What the intake
could not read stays where it is, flagged for a person, and is not read again.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailer.errors import ConfigError, InvalidInput, ServiceUnavailable
from mailer.inbound.intake import FeedbackIntake

LOGGER = logging.getLogger("mailer.inbound")
FLAGGED = b"\\Flagged"


@dataclass(frozen=True)
class MailboxUrl:
    """`imaps://user:pass@host[:port]/FOLDER?done=Processed`, or `imap://` (plain text
    only on loopback unless `?starttls=1`)."""

    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    user: str
    password: str
    folder: str = "INBOX"
    done: str = "Processed"

    @classmethod
    def parse(cls, url: str) -> MailboxUrl:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise InvalidInput({"url": "must look like imaps://user:pass@host/INBOX"})
        if not parts.username or parts.password is None:
            raise InvalidInput({"url": "must name the user and password: "
                                       "imaps://user:pass@host/INBOX (URL-encode specials)"})
        starttls = query.get("starttls", "") in ("1", "yes", "true")
        security: Literal["tls", "starttls", "none"] = (
            "tls" if parts.scheme == "imaps" else "starttls" if starttls else "none")
        if security == "none" and not _loopback(parts.hostname):
            raise InvalidInput({"url": "plain imap:// only to a loopback address; use "
                                       "imaps://, or imap://...?starttls=1"})
        try:
            port = parts.port or (993 if security == "tls" else 143)
        except ValueError as exc:
            raise InvalidInput({"url": f"bad port: {exc}"}) from None
        return cls(parts.hostname, port, security, unquote(parts.username),
                   unquote(parts.password), unquote(parts.path.strip("/")) or "INBOX",
                   query.get("done", "") or "Processed")

    @property
    def where(self) -> str:
        """The mailbox without its password, for messages and logs."""
        scheme = "imaps" if self.security == "tls" else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Polled:
    taken: int  # read and acted on, then moved to the done folder
    left: int  # unreadable (or too large): left in place, flagged for a person
    failed: int  # the intake failed on them: left in place, flagged, logged


class MailboxPoller:
    def __init__(self, intake: FeedbackIntake, url: MailboxUrl, *, max_bytes: int,
                 timeout: float = 30.0) -> None:
        self._intake = intake
        self._url = url
        self._max_bytes = max_bytes
        self._timeout = timeout

    def poll(self) -> Polled:
        """One pass over the folder's unflagged messages. Raises ServiceUnavailable when
        the mailbox or the database is away (what is not done yet stays in place)."""
        counts = {"taken": 0, "left": 0, "failed": 0}
        with self._connected() as imap:
            imap.select_folder(self._url.folder)
            if not imap.folder_exists(self._url.done):
                imap.create_folder(self._url.done)
            for uid in imap.search(["UNFLAGGED", "UNDELETED"]):
                counts[self._one(imap, uid)] += 1
        return Polled(**counts)

    def _one(self, imap: IMAPClient, uid: int) -> str:
        fetched = imap.fetch([uid], ["RFC822.SIZE"]).get(uid, {})
        if int(fetched.get(b"RFC822.SIZE", 0)) > self._max_bytes:
            imap.add_flags([uid], [FLAGGED])
            return "left"
        raw = imap.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]", b"")
        try:
            taken = self._intake.take(bytes(raw))
        except ServiceUnavailable:
            raise
        except Exception:  # the mailbox keeps it; a person sees the flag and the log
            LOGGER.exception("the intake failed on message %s in %s", uid, self._url.where)
            imap.add_flags([uid], [FLAGGED])
            return "failed"
        if taken.type == "unknown":
            imap.add_flags([uid], [FLAGGED])
            return "left"
        self._move(imap, uid)
        return "taken"

    def _move(self, imap: IMAPClient, uid: int) -> None:
        if imap.has_capability("MOVE"):
            imap.move([uid], self._url.done)
            return
        imap.copy([uid], self._url.done)
        imap.delete_messages([uid])
        if imap.has_capability("UIDPLUS"):
            imap.uid_expunge([uid])
        else:
            imap.expunge()

    @contextmanager
    def _connected(self) -> Iterator[IMAPClient]:
        url = self._url
        try:
            imap = IMAPClient(url.host, url.port, ssl=url.security == "tls",
                              ssl_context=ssl.create_default_context(),
                              timeout=self._timeout)
            if url.security == "starttls":
                imap.starttls(ssl.create_default_context())
            imap.login(url.user, url.password)
        except LoginError as exc:
            raise ConfigError(f"the mailbox {url.where} refused the login: {exc}") from None
        except (OSError, IMAPClientError) as exc:
            raise ServiceUnavailable(f"the mailbox {url.where} is not answering: {exc}"
                                     ) from None
        try:
            yield imap
        except (OSError, IMAPClientError) as exc:
            raise ServiceUnavailable(f"the mailbox {url.where} failed: {exc}") from None
        finally:
            try:
                imap.logout()
            except (OSError, IMAPClientError):
                imap.shutdown()
