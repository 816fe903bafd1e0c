"""RFC 5965 feedback reports (Yahoo, AOL, Microsoft and others) and Microsoft's JMRP
format: who complained, and whether the report is a complaint at all."""

from __future__ import annotations

import re

from mailer.inbound.dsn import ADDRESS, MAX_RECIPIENTS, fields

# RFC 5965 and 6650: abuse, fraud and virus are a reader's complaint; auth-failure
# (RFC 6591, DMARC reports) and not-spam blame no reader. The ARF draft's opt-out and
# opt-out-list (still sent by feedback loops) are a reader asking, through their provider,
# to hear no more from us: a complaint too. Read as mail to our unsubscribe address they
# would unsubscribe no one, as such mail acts only with its token in the subject.
COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other", "opt-out", "opt-out-list"})
_JMRP_RECIPIENT = "x-hmxmroriginalrecipient"
_RCPT = re.compile(r"^(?:original-rcpt-to|removal-recipient)\s*:\s*(.+)$",
                   re.IGNORECASE | re.MULTILINE)


_FEEDBACK_FIELD = re.compile(r"^feedback-type\s*:", re.IGNORECASE | re.MULTILINE)
_DECLARED = re.compile(r"report-type\s*=\s*\"?feedback-report", re.IGNORECASE)
_FEEDBACK_START = re.compile(r"\s*feedback-type\s*:", re.IGNORECASE)
# The words RFC 5965's example report opens with, which AOL, Yahoo, Comcast and the
# loops built on their software write: a report forwarded with its machine part dropped.
_ABUSE_REPORT = re.compile(r"\s*this is an? (?:e-?mail )?abuse report\b", re.IGNORECASE)


def reports(feedback_texts: list[str], texts: list[str], content_type: str) -> list[str]:
    """The report's fields: its feedback-report parts, else a text part that carries a
    Feedback-Type field (some loops label the report part text/plain): anywhere in it in a
    multipart/report, at its start in other multipart mail (a report forwarded in
    multipart/mixed). Single-part mail is not searched: this runs on every message."""
    if feedback_texts or not content_type.startswith("multipart/"):
        return feedback_texts
    if content_type == "multipart/report":
        return [t for t in texts if _FEEDBACK_FIELD.search(t)][:1]
    return [t for t in texts if _FEEDBACK_START.match(t)][:1]


def is_report(headers: dict[str, str]) -> bool:
    """report-type=feedback-report on a multipart (multipart/report, or mixed as some
    loops write it): a feedback report by its own declaration, even when its report part
    is missing or mislabelled (RFC 5965 says a report that gives no type is abuse)."""
    content_type = headers.get("content-type", "")
    return content_type.lower().startswith("multipart/") \
        and _DECLARED.search(content_type) is not None


def is_forwarded_report(texts: list[str], original_headers: dict[str, str]) -> bool:
    """A message whose own text opens as RFC 5965's example report does ("This is an
    email abuse report ...") and that carries the reported message: an abuse desk's
    forward of a report, its machine-readable part lost on the way."""
    return bool(original_headers) and bool(texts) and bool(_ABUSE_REPORT.match(texts[0]))


def feedback_type(texts: list[str]) -> str:
    for text in texts:
        value = fields(text).get("feedback-type", "")
        if value:
            return value.split()[0].lower()
    return ""


def complained(texts: list[str], original_headers: dict[str, str],
               headers: dict[str, str]) -> list[str]:
    """Who the reported message went to: the report's Original-Rcpt-To lines, else
    the returned message's own To (Yahoo and Microsoft send it so), else, for a
    JMRP report that is the reported message itself, its X-HmXmrOriginalRecipient."""
    found: list[str] = []
    for text in texts:
        for value in _RCPT.findall(text):
            match = ADDRESS.search(value)
            if match and match.group(0).lower() not in found:
                found.append(match.group(0).lower())
    if not found:
        named = original_headers.get(_JMRP_RECIPIENT, "") \
            or original_headers.get("to", "") or headers.get(_JMRP_RECIPIENT, "")
        found = [m.lower() for m in ADDRESS.findall(named)][:1]
    return found[:MAX_RECIPIENTS]


def is_jmrp(headers: dict[str, str], original_headers: dict[str, str]) -> bool:
    """Microsoft's junk-mail reporting: the reported message, with X-HmXmr headers,
    attached to a note from staff@hotmail.com, or (Hotmail's older loop) sent back
    itself, those headers at its top."""
    return _JMRP_RECIPIENT in original_headers or _JMRP_RECIPIENT in headers or \
        headers.get("subject", "").lower().startswith("complaint about message from")
