"""What a returned message is and whom it is about: a bounce (which recipients, hard or
soft), a delay warning, a complaint, an auto-reply, an unsubscribe request, or unknown.
The intake and the feedback policy act on the answer; this module only reads."""

from __future__ import annotations

import re

from mailer.inbound import arf, autoreply, dsn, heuristics, ses
from mailer.inbound.parsing import Parsed, parse
from mailer.inbound.report import Classified, FailedRecipient, FeedbackType
from mailer.inbound.severity import judge

__all__ = ["Classified", "FailedRecipient", "FeedbackType", "classify"]

_KEPT_HEADERS = ("message-id", "to", "from", "subject", "date", "list-id")
_ADDRESSED = ("delivered-to", "x-original-to", "to", "envelope-to")


def classify(raw: bytes, *, envelope_to: str | None = None,
             unsubscribe_mailbox: str | None = None) -> Classified:
    """Never raises: mail from the world is hostile input, and a message that cannot be
    read is `unknown`, kept for a person."""
    try:
        return _classify(parse(raw), envelope_to, unsubscribe_mailbox)
    except Exception:
        return Classified("unknown", (), None, {}, False)


def _classify(parsed: Parsed, envelope_to: str | None,
              unsubscribe_mailbox: str | None) -> Classified:
    kept = _original(parsed)
    message_id = kept.get("Message-ID") or None

    def result(kind: FeedbackType, found: tuple[FailedRecipient, ...] = (),
               blames: bool = False) -> Classified:
        return Classified(kind, found, message_id, kept, blames)

    reports = arf.reports(parsed.feedback_texts, parsed.texts, parsed.content_type)
    feedback = arf.feedback_type(reports)
    if feedback or arf.is_report(parsed.headers) \
            or arf.is_jmrp(parsed.headers, parsed.original_headers) \
            or arf.is_forwarded_report(parsed.texts, parsed.original_headers):
        return result(*_feedback(feedback, reports, parsed))
    records = dsn.records(parsed.dsn_texts) or _dsn_in_text(parsed) \
        or dsn.records(parsed.forwarded_dsn_texts)  # a bounce forwarded as an attachment
    if records:
        return result(*_from_records(records, parsed))
    if parsed.headers.get("x-apple-unsubscribe", "").lower() == "true":
        return result("unsubscribe", _sender(parsed))
    text = "\n".join(parsed.texts)
    notification = ses.notification(text)
    if notification is not None:
        return result(notification.type, notification.recipients)
    refused = heuristics.list_refusal(parsed.headers, text)
    if refused:
        return result("bounce", tuple(_judged(f, delay=False)[0] for f in refused))
    if heuristics.is_bounce(parsed.headers, text):
        return result(*_from_text(parsed, text))
    if autoreply.is_auto_reply(parsed.headers):
        return result("auto-reply", _sender(parsed))
    if heuristics.returns_own_message(parsed.headers, parsed.original_headers):
        return result(*_from_text(parsed, text))
    if unsubscribe_mailbox and _addressed_to(parsed.headers, envelope_to, unsubscribe_mailbox):
        return result("unsubscribe", _sender(parsed))
    return result("unknown")


def _feedback(feedback: str, reports: list[str], parsed: Parsed
              ) -> tuple[FeedbackType, tuple[FailedRecipient, ...]]:
    if feedback and feedback not in arf.COMPLAINTS:
        return "unknown", ()
    found = arf.complained(reports, parsed.original_headers, parsed.headers)
    return "complaint", tuple(FailedRecipient(a, None, False) for a in found)


def _dsn_in_text(parsed: Parsed) -> list[dsn.DsnRecord]:
    """Delivery-status fields sent as plain text (some MTAs attach them so)."""
    texts = [t for t in parsed.texts if re.search(r"^(?:final|original)-recipient\s*:", t,
                                                    re.IGNORECASE | re.MULTILINE)]
    return dsn.records(texts)


def _from_records(records: list[dsn.DsnRecord], parsed: Parsed
                  ) -> tuple[FeedbackType, tuple[FailedRecipient, ...], bool]:
    failed = [r for r in records if r.action == "failed"]
    delayed = [r for r in records if r.action == "delayed"]
    if not failed and not delayed:
        return "unknown", (), False
    text = heuristics.human_part("\n".join(parsed.texts))
    found: dict[str, FailedRecipient] = {}
    blames = False
    for record in failed + delayed:
        if record.address in found:
            continue
        context = _context(text, record.address)
        severity = judge(record.status, record.diagnostic, context)
        hard = severity.hard and record.action == "failed"
        found[record.address] = FailedRecipient(record.address, record.status, hard,
                                                record.diagnostic or dsn.one_line(context))
        blames = blames or severity.blames_us
    kind: FeedbackType = "bounce" if failed else "delay"
    return kind, tuple(found.values()), blames and bool(failed)


def _from_text(parsed: Parsed, text: str
               ) -> tuple[FeedbackType, tuple[FailedRecipient, ...], bool]:
    ours = _ours(parsed)
    delay = heuristics.is_delay(parsed.headers, text)
    found = []
    blames = False
    for failure in heuristics.failures(parsed.headers, text, ours):
        recipient, blamed = _judged(failure, delay)
        found.append(recipient)
        blames = blames or blamed
    if not found:
        original = parsed.original_headers or heuristics.quoted_headers(text)
        to = [a.lower() for a in dsn.ADDRESS.findall(original.get("to", ""))] \
            or heuristics.summary_to(text)
        if len(to) == 1 and to[0] not in ours:
            severity = judge(None, heuristics.human_part(text)[:2000])
            found.append(FailedRecipient(to[0], None, severity.hard and not delay, ""))
    return ("delay" if delay else "bounce"), tuple(found), blames and not delay


def _judged(failure: heuristics.TextFailure, delay: bool) -> tuple[FailedRecipient, bool]:
    """The recipient a text names, hard or soft, and whether the refusal blames us."""
    severity = judge(failure.status, failure.diagnostic)
    return FailedRecipient(failure.address, failure.status, severity.hard and not delay,
                           failure.diagnostic), severity.blames_us


def _sender(parsed: Parsed) -> tuple[FailedRecipient, ...]:
    """The reader who wrote (an auto-reply, an unsubscribe request): its From."""
    found = dsn.ADDRESS.search(parsed.headers.get("from", ""))
    return (FailedRecipient(found.group(0).lower(), None, False),) if found else ()


def _context(text: str, address: str) -> str:
    at = text.lower().find(address)
    if at < 0:
        return ""
    return dsn.one_line(text[at:at + 600], 600)


def _ours(parsed: Parsed) -> set[str]:
    """Addresses that are the bounce's own or the sender's, never a failed recipient."""
    found: set[str] = set()
    mailed = {a.lower() for a in dsn.ADDRESS.findall(parsed.original_headers.get("to", ""))}
    for headers, names in ((parsed.headers, ("from", "to", "reply-to", "sender",
                                              "return-path", "delivered-to")),
                           (parsed.original_headers, ("from", "sender", "reply-to",
                                                      "return-path", "errors-to"))):
        for name in names:
            found.update(a.lower() for a in dsn.ADDRESS.findall(headers.get(name, "")))
    return found - mailed


def _original(parsed: Parsed) -> dict[str, str]:
    headers = parsed.original_headers
    kept = {name.title().replace("Message-Id", "Message-ID"): value
            for name, value in headers.items()
            if name in _KEPT_HEADERS or name.startswith("x-")}
    return dict(list(kept.items())[:50])


def _addressed_to(headers: dict[str, str], envelope_to: str | None, mailbox: str) -> bool:
    local, _, domain = mailbox.lower().rpartition("@")
    candidates = [envelope_to] if envelope_to else [headers.get(n, "") for n in _ADDRESSED]
    for value in candidates:
        for address in dsn.ADDRESS.findall(value or ""):
            their_local, _, their_domain = address.lower().rpartition("@")
            if their_local.split("+")[0] == local and (not domain or their_domain == domain):
                return True
    return False
