"""RFC 5965 feedback reports (Yahoo, AOL, Microsoft and others) and Microsoft's JMRP
format: who complained, and whether the report is a complaint at all."""

from __future__ import annotations

import re

from mailer.inbound.dsn import ADDRESS, MAX_RECIPIENTS, fields

# RFC 5965 and 6650: abuse, fraud and virus are a reader's complaint; opt-out asks to
# leave; auth-failure (RFC 6591, DMARC reports) and not-spam blame no reader.
COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other"})
OPT_OUT = frozenset({"opt-out", "opt-out-list"})
_RCPT = re.compile(r"^(?:original-rcpt-to|removal-recipient)\s*:\s*(.+)$",
                   re.IGNORECASE | re.MULTILINE)


_FEEDBACK_FIELD = re.compile(r"^feedback-type\s*:", re.IGNORECASE | re.MULTILINE)


def reports(feedback_texts: list[str], texts: list[str], content_type: str) -> list[str]:
    """The report's fields: its message/feedback-report parts, else, in a multipart/report,
    a text part that carries a Feedback-Type field (some loops label the report part
    text/plain). Other mail is not searched: this runs on every message."""
    if feedback_texts or content_type != "multipart/report":
        return feedback_texts
    return [t for t in texts if _FEEDBACK_FIELD.search(t)][:1]


def is_report(headers: dict[str, str]) -> bool:
    """multipart/report; report-type=feedback-report: a feedback report by its own
    declaration, even when its report part is missing or mislabelled (RFC 5965 says a
    report that gives no type is read as abuse)."""
    content_type = headers.get("content-type", "").lower()
    return "multipart/report" in content_type and "feedback-report" in content_type


def feedback_type(texts: list[str]) -> str:
    for text in texts:
        value = fields(text).get("feedback-type", "")
        if value:
            return value.split()[0].lower()
    return ""


def complained(texts: list[str], original_headers: dict[str, str]) -> list[str]:
    """Who the reported message went to: the report's Original-Rcpt-To lines, else
    the returned message's own To (Yahoo and Microsoft send it so)."""
    found: list[str] = []
    for text in texts:
        for value in _RCPT.findall(text):
            match = ADDRESS.search(value)
            if match and match.group(0).lower() not in found:
                found.append(match.group(0).lower())
    if not found:
        named = original_headers.get("x-hmxmroriginalrecipient", "") \
            or original_headers.get("to", "")
        found = [m.lower() for m in ADDRESS.findall(named)][:1]
    return found[:MAX_RECIPIENTS]


def is_jmrp(headers: dict[str, str], original_headers: dict[str, str]) -> bool:
    """Microsoft's junk-mail reporting: the reported message, with X-HmXmr headers,
    attached to a note from staff@hotmail.com."""
    return "x-hmxmroriginalrecipient" in original_headers or \
        headers.get("subject", "").lower().startswith("complaint about message from")
