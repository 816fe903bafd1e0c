"""RFC 3834 auto-replies, out-of-office notes and challenge-response mail: answers a
machine wrote for a reader who still exists, so they must never count as a bounce."""

from __future__ import annotations

import re

# Subjects that mail programs give their automatic answers, in the languages our
# readers' providers use most; each is a program's fixed wording, not a guess at intent.
_SUBJECT = re.compile(
    r"^(?:auto(?:matic|matische)?[ -]?(?:reply|response|respons|antwort|answer)\b|"
    r"auto:|autoreply|autorespon|out of (?:the )?office|away from (?:my|the) (?:desk|office)|"
    r"away until|on vacation|vacation reply|abwesenheitsnotiz|abwesend|"
    r"r[ée]ponse automatique|absence|risposta automatica|respuesta autom[aá]tica|"
    r"automatisch antwoord|自動応答|自动回复|please confirm your (?:message|e-?mail)|"
    r"(?:spam|sender) verification|challenge[- ]response)",
    re.IGNORECASE)


def is_auto_reply(headers: dict[str, str]) -> bool:
    """What the headers say: RFC 3834's Auto-Submitted, the older X-Autoreply and
    Precedence: auto_reply, or a subject an out-of-office program writes."""
    submitted = headers.get("auto-submitted", "").lower()
    if submitted.startswith("auto-replied"):
        return True
    if any(headers.get(name, "").lower() in ("yes", "true", "1")
           for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mail-autoreply")):
        return True
    if headers.get("precedence", "").lower() == "auto_reply":
        return True
    return bool(_SUBJECT.search(headers.get("subject", "").strip()))
