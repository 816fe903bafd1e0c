"""Hard or soft, and whose fault: the remote server's words and status read as the
best open classifier (Sisimai) reads them, so a suppression follows the same judgement
every other well-kept list manager makes. Only an address that is gone is hard."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    r"account or domain may not exist|did not (?:exactly )?match an? .{0,20}address|"
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
_AFTER_DATA = re.compile(r"end of data|after data|data command|in reply to data",
                         re.IGNORECASE)
_AT_RCPT = re.compile(r">>> RCPT TO|after RCPT|in reply to RCPT", re.IGNORECASE)
_SENDER_STATUS = {"5.1.7", "5.1.8"}  # RFC 3463: the sender's address, ours, is refused
_GONE_STATUS = {"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.0.911", "5.0.912"}


@dataclass(frozen=True)
class Severity:
    hard: bool
    blames_us: bool


def judge(status: str | None, diagnostic: str, context: str = "") -> Severity:
    """How hard one recipient's failure is. `context` is what the human-readable part
    says around the recipient (the SMTP stage, for one)."""
    text = diagnostic or context
    blames = _blames_us(status, text)
    if status and (status.startswith("4") or status[2:].startswith("7.")):
        return Severity(False, blames)  # temporary, or a policy refusal: never the address
    if blames or _FULL.search(text) or status in _SENDER_STATUS:
        return Severity(False, blames or status in _SENDER_STATUS)
    user_gone = bool(_USER_UNKNOWN.search(text))
    gone = user_gone or bool(_HOST_UNKNOWN.search(text) or _NOT_ACCEPT.search(text)
                             or _HAS_MOVED.search(text))
    at_rcpt = bool(_AT_RCPT.search(text))
    if user_gone and ((status == "5.0.0" and not at_rcpt)
                      or _AFTER_DATA.search(f"{diagnostic} {context}")):
        # "User unknown" with no specific status, or after the message was read: what
        # filters answer (Sisimai's "filtered"), not proof that the mailbox is gone.
        return Severity(False, False)
    if gone or status in _GONE_STATUS:
        return Severity(True, False)
    return Severity(False, False)


def _blames_us(status: str | None, text: str) -> bool:
    if _USER_UNKNOWN.search(text):
        return False
    return bool(status and status[2:].startswith("7.")) or bool(_BLAMES_US.search(text))
