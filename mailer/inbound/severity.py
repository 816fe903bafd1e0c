"""Hard or soft, and whose fault: the remote server's words and status read as the
best open classifier (Sisimai) reads them, so a suppression follows the same judgement
every other well-kept list manager makes. Only an address that is gone is hard."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.inbound.dsn import STATUS

# The recipient can no longer be reached: what MTAs say for an unknown mailbox.
_USER_UNKNOWN = re.compile(
    r"user(?:name)? (?:is )?unknown|unknown (?:user|recipient|local[- ]?part|mailbox|address)|"
    r"no such (?:user|mailbox|recipient|account|address|person)|"
    r"(?:user|mailbox|recipient|address|account|addressee)(?: name)? (?:does not|doesn't|"
    r"did not|not) exists?|(?:user|recipient|mailbox|address) not found|"
    r"not a valid (?:mailbox|user|recipient)|"
    r"invalid (?:mailbox|recipient|user|address)|recipient (?:address )?(?:is )?invalid|"
    r"addressee unknown|recipient unknown|unrouteable address|no mailbox here|"
    r"mailbox (?:is )?(?:unavailable|not available)|"
    r"account (?:that you tried to reach )?(?:does not|doesn't) exist|"
    r"no account by that name|not listed in (?:the )?(?:domino )?directory|"
    r"user (?:account )?(?:is )?(?:not|no longer) (?:valid|available|found|here)|"
    r"recipient rejected|bad destination mailbox|unknown or illegal alias|"
    r"mailbox unknown|no valid recipients|is not a known user|destin\S* (?:address )?unknown|"
    r"doesn't have an? \S+ account|address (?:is )?(?:unknown|rejected)|"
    r"user doesn't have|not our customer|this user doesn't|"
    r"recipient address rejected: access denied|there is no one at this address|"
    r"invalid final delivery userid|address (?:is )?(?:possibly )?incorrect|"
    r"wasn.t found at the destination|check if (?:the )?address is correct|"
    r"account or domain may not exist|not listed in public name & address book|"
    r"did not (?:exactly )?match an? .{0,20}address|"
    r"inactive (?:e-?mail )?address|no matches to nameserver query",
    re.IGNORECASE)
_HOST_UNKNOWN = re.compile(
    r"host (?:or domain name )?(?:not found|unknown)|unknown host|domain (?:name )?not found|"
    r"no such domain|unrouteable mail domain|domain (?:does not|doesn't) exist|"
    r"name or service not known|(?:dns|domain) lookup fail|host not found|"
    r"nxdomain|no mx|domain (?:is )?unknown|unknown domain|invalid domain|"
    r"domain is not reachable",
    re.IGNORECASE)
_NOT_ACCEPT = re.compile(r"does not accept (?:any )?mail|null mx|indicated no smtp service",
                         re.IGNORECASE)
_HAS_MOVED = re.compile(r"has moved|address (?:has )?changed|no longer (?:at|with) ",
                        re.IGNORECASE)
# Soft whatever else the text says: a full mailbox may be emptied tomorrow.
_FULL = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|"
    r"exceed\w* (?:\w+ )?(?:quota|storage)|"
    r"insufficient (?:disk )?space|full mailbox|disk full|temporar|try again later|"
    r"not found, try again|too many|recipient preferences|couldn.t create|"
    r"not accepting mail from",  # the reader's own block on our sender (AOL)
    re.IGNORECASE)
# Refusals that name our server, its reputation or our mail: no reader is at fault.
_BLAMES_US = re.compile(
    r"block ?list|black ?list|blocked|spamhaus|spamcop|barracuda|\brbl\b|\bdnsbl\b|"
    r"reputation|\bspam\b|junk|\bspf\b|\bdkim\b|\bdmarc\b|reverse dns|\bptr\b|"
    r"not authori[sz]ed to send|poor reputation|listed (?:at|on|in)|"
    r"unsolicited|bulk mail|content (?:rejected|filter)|message (?:rejected|refused) (?:as|due)|"
    r"policy",
    re.IGNORECASE)
_AFTER_DATA = re.compile(r"end of data|after data|data command|in reply to data|"
                         r"command\W+DATA\b", re.IGNORECASE)
_AT_RCPT = re.compile(r">>> RCPT TO|after RCPT|in reply to RCPT|RCPT TO command",
                      re.IGNORECASE)
# Any other mention of RCPT in a report (SMTP:RCPT, [RCPT_TO], "RCPT TO generated
# following response", "most progress was RCPT TO response").
_RCPT_SAID = re.compile(r"\bRCPT(?:[ _]TO)?\b", re.IGNORECASE)
_BEFORE_DATA = re.compile(r">>> (?:MAIL FROM|HELO|EHLO)|in reply to (?:MAIL FROM|HELO|EHLO)|"
                          r"after (?:MAIL FROM|HELO|EHLO)", re.IGNORECASE)
_SENDER_STATUS = {"5.1.7", "5.1.8"}  # RFC 3463: the sender's address, ours, is refused

# What RFC 3463's codes mean for the reader's address, as Sisimai names them
# (Sisimai::SMTP::Status): gone, or a mailbox that refused for now.
_STATUS_GONE = {"5.1.0", "5.1.1", "5.1.3"}
_STATUS_NO_HOST = {"5.1.2", "5.4.4"}
_STATUS_MOVED_OR_NULL = {"5.1.6", "4.1.6", "5.7.17", "5.7.18",   # has moved
                         "5.1.10", "5.3.2", "5.7.27"}            # accepts no mail (null MX)
_STATUS_FILTERED = {"5.1.4", "5.2.0", "5.2.1", "5.2.4", "4.2.4"}
# Refusals that Sisimai (Reason::NoRelaying, Rejected, Suspend, MesgTooBig, ExceedLimit)
# ranks before an unknown mailbox: the words below win over a 5.1.1 and are soft.
_SOFT_FIRST = re.compile(
    r"relay(?:ing)? (?:access )?(?:denied|not permitted)|not permitted to relay|"
    r"unable to relay|as a relay|not (?:a gateway|local host)|we don't handle mail for|"
    r"sender (?:address )?(?:rejected|verify failed|is spammer)|invalid sender|"
    r"administrative prohibition|returned mail not accepted|"
    r"(?:account|mailbox|user) (?:is )?(?:disabled|suspended|deactivated|inactive|frozen|locked)|"
    r"(?:has been|currently) suspended|unavailable or access denied|temporarily inactive|"
    r"message (?:is )?too (?:big|large)|size limit|exceeds? (?:the )?(?:maximum|size)",
    re.IGNORECASE)
# Words of a content or sender filter (Sisimai's Reason::Filtered).
_FILTERED = re.compile(r"because of (?:the )?content|filter(?:ed)?\b|"
                       r"due to (?:extended|protected) inactivity|"
                       r"rejected by the (?:user|recipient)", re.IGNORECASE)
# A host that cannot be reached for now, not a name that does not exist (NetworkError).
_NETWORK = re.compile(r"malformed|name ?server (?:reply|error|failure)|timed? ?out|"
                      r"temporar|loop|too many hops", re.IGNORECASE)


@dataclass(frozen=True)
class Severity:
    hard: bool
    blames_us: bool


def judge(status: str | None, diagnostic: str, context: str = "") -> Severity:
    """How hard one recipient's failure is. `context` is what the human-readable part
    says around the recipient (the SMTP stage, for one). Hard is Sisimai 4's judgement:
    only an address or domain that does not exist, has moved or takes no mail."""
    text = diagnostic or context
    blames = _blames_us(status, text) or status in _SENDER_STATUS
    stage = _stage(diagnostic) or _stage(context)
    if _stage(diagnostic) == "MAIL" and not _USER_UNKNOWN.search(text):
        return Severity(False, blames)  # the server's own words: our sender was refused
    return Severity(_is_gone(_specific(status, text), text, stage), blames)


def _stage(told: str) -> str:
    """The SMTP command the refusal answered: RCPT, DATA, MAIL (or HELO), or "" unknown."""
    if _AT_RCPT.search(told):
        return "RCPT"
    if _AFTER_DATA.search(told):
        return "DATA"
    if _BEFORE_DATA.search(told):
        return "MAIL"
    return "RCPT" if _RCPT_SAID.search(told) else ""


def _specific(status: str | None, text: str) -> str:
    """The status, or the code the server's words give when the status is missing or
    says only x.0.0 (Sisimai reads the diagnostic's code so too)."""
    if status and not status.endswith(".0.0"):
        return status
    told = STATUS.search(text)
    if told and (not status or told.group(1) == status[0]):
        return ".".join(told.groups())
    return status or ""


def _is_gone(code: str, text: str, stage: str) -> bool:
    """Sisimai's order of reasons (Sisimai::Reason->get): a full mailbox, a suspended
    account, relaying, a refused sender first (soft); an address that has moved or a
    domain with a null MX (hard); then the unknown mailbox, by its status or by its words
    answered to RCPT (hard even under a 4xx or 5.7.x code, as Sisimai ranks it); then
    filters (soft, even in "user unknown" words, under a 5.2.x code or after DATA); then
    an unknown host; last the words alone, when no stage or code says otherwise."""
    user_words = bool(_USER_UNKNOWN.search(text))
    if _FULL.search(text) or _SOFT_FIRST.search(text) or code in _SENDER_STATUS:
        return False
    if _HAS_MOVED.search(text) or code in _STATUS_MOVED_OR_NULL:
        return True
    if code in _STATUS_GONE and (user_words or not _BLAMES_US.search(text)):
        return True
    if stage == "MAIL":
        return False  # refused at MAIL FROM: our sender, not the reader's address
    if stage == "RCPT" and user_words:
        return True
    if code.startswith("4"):
        return False  # temporary, never the address
    if code in _STATUS_FILTERED or (stage == "DATA" and user_words) \
            or (stage != "RCPT" and _FILTERED.search(text)):
        return False
    if code in _STATUS_NO_HOST and not _NETWORK.search(text):
        return True
    if _HOST_UNKNOWN.search(text) or _NOT_ACCEPT.search(text):
        return True
    if _blames_us(code, text) or code[2:].startswith("7."):
        return False
    return user_words


def _blames_us(status: str | None, text: str) -> bool:
    if _USER_UNKNOWN.search(text):
        return False
    return bool(status and status[2:].startswith("7.")) or bool(_BLAMES_US.search(text))
