"""Bounces that are not RFC 3464 reports: the free text that Exim, qmail, old Sendmail,
Exchange, Gmail, Japanese carriers and providers write. Each rule reads a format or a
fixed wording, never a particular sample."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.inbound.dsn import ADDRESS, MAX_RECIPIENTS, STATUS, clean, one_line
from mailer.inbound.parsing import parse_headers

# Senders of delivery reports: RFC 5321's postmaster and the traditional daemon names.
_DAEMON = re.compile(
    r"mailer-?daemon|postmaster|post_master|mail\.?delivery|delivery.?subsystem|"
    r"mail delivery|\bndr\b|e500_smtp|internet mail delivery|interconnect|"
    r"system administrator|mmsc ndr|automated response|jetmail",
    re.IGNORECASE)
# Subjects MTAs give their non-delivery reports.
_SUBJECT = re.compile(
    r"undeliver|undelivered|non-?deliver|delivery (?:status notification|failure|failed|"
    r"notification|problem|has failed)|returned mail|mail delivery fail|failure (?:notice|"
    r"delivery)|failed (?:delivery|mail)|mail (?:system )?error|could not be delivered|"
    r"delivery has failed|returning (?:message )?to sender|error sending your mail|"
    r"bounce notification|nameserver error|メールエラー|配信(?:エラー|不能)|送信エラー",
    re.IGNORECASE)
# The line KDDI's au one net (and Sendmail-derived carriers) lead their notice with.
_NOT_DELIVERED_TO = re.compile(r"^[ \t]*could not be delivered to:[ \t]*<", re.I | re.M)
# fml, the Japanese mailing-list manager, refusing a post (not a member, a loop, a
# security check): its own wordings, as Sisimai's fml module reads them.
_FML_REFUSAL = re.compile(
    r"are not (?:a )?member|not member article from|reject mail |spammer maybe sending|"
    r"fml system error|loop alert:|loop back warning:|unix from loop|security alert",
    re.IGNORECASE)
_BRACKETED = re.compile(r"<(" + ADDRESS.pattern + r")>")
# Where the human-readable part ends and the returned message begins.
_ORIGINAL_START = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*)?(?:this is a copy of|below this line is a copy|original message|"
    r"the (?:header|headers) of the original|a copy of the original|"
    r"the original message(?! was received at)|"  # Sendmail's summary opens so
    r"headers of the returned|returned message|unsent message below|"
    r"message header follows|original mail as follows|------ ?original)|"
    r"^(?:received|return-path|message-id|dkim-signature):[ \t]",
    re.IGNORECASE | re.MULTILINE)
_DELAY = re.compile(
    r"warning message only|not yet been delivered|will (?:continue to )?(?:try|retry)|"
    r"still (?:being )?(?:re)?tr(?:y|ied)|could not send (?:mail|message) for (?:the )?past|"
    r"delivery (?:has been |is )?delayed|delayed (?:mail|\d+ (?:hours|minutes))|"
    r"message (?:is )?delayed|kept in the queue|temporary failure report|"
    r"\(delay\)|delivery delay",
    re.IGNORECASE)
_FINAL = re.compile(r"gave up|giving up|permanent|could not be delivered|"
                    r"has been (?:returned|bounced)|deleted from (?:the )?queue|"
                    r"(?:retry|queue) time(?:out)?(?: exceeded)?|too long", re.IGNORECASE)
_NOT_RECIPIENT = re.compile(r"^(?:mailer-?daemon|postmaster|post_master|root|abuse|"
                            r"no-?reply|double-bounce|bounces?)[@+]", re.IGNORECASE)
# "RCPT TO: <address>" in a report's details (Apache James, Verizon and others).
_RCPT_TO = re.compile(r"^\s*RCPT TO:\s*<?(" + ADDRESS.pattern + ")", re.MULTILINE)
_PHQUERY = re.compile(r"^[ \t]*([\w.-]+)[ \t]{2,}No matches to nameserver query",
                      re.MULTILINE | re.IGNORECASE)
_BASIC = re.compile(r"(?<![\d.])([45])\d\d(?:[ -]|$)")


@dataclass(frozen=True)
class TextFailure:
    address: str
    status: str | None
    diagnostic: str


def returns_own_message(headers: dict[str, str], original: dict[str, str]) -> bool:
    """The message carries back one that its addressee sent (KDDI, fml and others send
    no other sign of a bounce): the returned message's From is this message's To."""
    sent_by = {a.lower() for a in ADDRESS.findall(original.get("from", ""))}
    return bool(sent_by) and any(a.lower() in sent_by
                                 for a in ADDRESS.findall(headers.get("to", "")))


def is_bounce(headers: dict[str, str], text: str) -> bool:
    """Written by a mail system to say a message was not delivered."""
    sender = f"{headers.get('from', '')} {headers.get('return-path', '')}"
    subject = headers.get("subject", "")
    if "x-failed-recipients" in headers:
        return True
    if _SUBJECT.search(subject):
        return True
    return bool(_DAEMON.search(sender)) or bool(_NOT_DELIVERED_TO.search(human_part(text)))


def list_refusal(headers: dict[str, str], text: str) -> list[TextFailure]:
    """A mailing-list manager (fml) refusing the post it was sent: the failed recipient
    is the list, the first address in angle brackets in its notice."""
    if not headers.get("x-mlserver", "").lower().startswith("fml"):
        return []
    human = human_part(text)
    listed = _BRACKETED.search(human)
    if listed is None or not _FML_REFUSAL.search(f"{headers.get('subject', '')}\n{human}"):
        return []
    return [TextFailure(clean(listed.group(1)), None, one_line(human))]


def is_delay(headers: dict[str, str], text: str) -> bool:
    """A warning that delivery is still being tried, with nothing given up on."""
    told = f"{headers.get('subject', '')}\n{human_part(text)}"
    return bool(_DELAY.search(told)) and not _FINAL.search(told)


def human_part(text: str) -> str:
    """The text before the returned message starts."""
    found = _ORIGINAL_START.search(text, 1)
    return text[:found.start()] if found else text


def failures(headers: dict[str, str], text: str, ours: set[str]) -> list[TextFailure]:
    """The addresses a bounce's text says failed, with what it says about each."""
    human = human_part(text)
    named = [clean(a) for a in ADDRESS.findall(headers.get("x-failed-recipients", ""))]
    named += [clean(a) for a in _RCPT_TO.findall(human) if clean(a) not in named]
    lines = human.splitlines()
    found: dict[str, TextFailure] = {}
    for index, line in enumerate(lines):
        for match in ADDRESS.finditer(line):
            address = clean(match.group(0))
            if address in found or address in ours or _NOT_RECIPIENT.match(address):
                continue
            if re.search(r"message-id|^\s*(?:from|to|subject|date|sender):", line, re.I):
                continue
            found[address] = _failure(address, lines, index)
            if len(found) >= MAX_RECIPIENTS:
                break
    for address in named:
        if address not in found:
            found[address] = _failure(address, lines, 0)
    if named:
        return [found[a] for a in named]
    names = bare_names(headers, text)
    if names:
        return [_failure(a, lines, 0) for a in names]
    return list(found.values())


def summary_to(text: str) -> list[str]:
    """The To: line of a report's summary of the message (qmail and Yahoo write one)."""
    return [clean(a) for line in human_part(text).splitlines()
            if line.strip().lower().startswith("to:") for a in ADDRESS.findall(line)][:1]


def bare_names(headers: dict[str, str], text: str) -> list[str]:
    """AOL lists screen names, not addresses, under "the following recipients", and
    phquery directories ("No matches to nameserver query") names alone: both are
    mailboxes at the reporting domain."""
    domain = re.search(r"@((?:[\w-]+\.)*([\w-]+\.[a-z]{2,}))", headers.get("from", ""), re.I)
    listed = re.search(r"following recipients[^\n]*\n((?:[ \t]*\n)*(?:[ \t]+[\w.-]+[ \t]*\n)+)",
                       human_part(text), re.IGNORECASE)
    if domain is None:
        return []
    names = [line.strip() for line in listed.group(1).splitlines() if line.strip()] \
        if listed else _PHQUERY.findall(text)
    return [f"{name.lower()}@{domain.group(2).lower()}" for name in names][:MAX_RECIPIENTS]


def quoted_headers(text: str) -> dict[str, str]:
    """The headers of a returned message quoted inline after the report's text."""
    found = _ORIGINAL_START.search(text, 1)
    if found is None:
        return {}
    rest = text[found.start():].split("\n", 1)[-1].lstrip("\n")
    return parse_headers(rest[:20000])


def _failure(address: str, lines: list[str], index: int) -> TextFailure:
    window = " ".join(line.strip() for line in lines[index:index + 12])
    around = window.replace(address, " ", 1) if address in window.lower() else window
    status = STATUS.search(around)
    code = ".".join(status.groups()) if status else None
    if code is None:
        basic = _BASIC.search(around)
        code = f"{basic.group(1)}.0.0" if basic else None
    return TextFailure(address, code, one_line(around))
