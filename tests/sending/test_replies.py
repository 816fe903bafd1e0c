"""The one reply policy, as a table: each SMTP answer a relay gives, at the stage it
gives it, and what that means for the message, the reader and the relay."""

from __future__ import annotations

import pytest

from mailer.delivery.ledger import JobStatus
from mailer.delivery.verdict import gave_up, verdict
from mailer.errors import NotAttempted, Throttled
from mailer.sending.replies import classify, enhanced_code

D, F = JobStatus.DEFERRED, JobStatus.FAILED

# (code, text, stage) -> (status, suppress the reader, the relay's fault)
TABLE = [
    # The mailbox is gone: the reader's address is bad, never send to it again.
    (550, "5.1.1 <x@example.org>: Recipient address rejected: User unknown", "RCPT TO",
     F, True, False),
    (550, "5.1.10 Recipient address rejected: null MX", "RCPT TO", F, True, False),
    (550, "5.2.1 Mailbox disabled", "RCPT TO", F, True, False),
    (550, "5.1.1 The email account that you tried to reach does not exist", "DATA",
     F, True, False),
    (550, "Requested action not taken: mailbox unavailable", "RCPT TO", F, True, False),
    (553, "mailbox name not allowed", "RCPT TO", F, True, False),
    # Mailbox full: soft, whatever the class.
    (552, "5.2.2 Mailbox full", "RCPT TO", D, False, False),
    (452, "4.2.2 Over quota", "RCPT TO", D, False, False),
    # Content or policy refusals at DATA: the message failed, the address is fine.
    (554, "5.7.1 Message rejected as spam", "DATA", F, False, False),
    (550, "5.7.26 Unauthenticated email is not accepted (DMARC)", "DATA", F, False, False),
    (552, "5.3.4 Message size exceeds fixed limit", "DATA", F, False, False),
    (554, "Transaction failed", "DATA", F, False, False),
    # A recipient-side policy refusal that is not about relaying: failed, not blamed.
    (550, "5.7.1 Recipient address rejected: blocked by policy", "RCPT TO",
     F, False, False),
    (554, "Transaction failed", "RCPT TO", F, False, False),
    # The relay refuses *us*: our configuration. Deferred, nobody suppressed.
    (554, "5.7.1 <x@example.org>: Relay access denied", "RCPT TO", D, False, True),
    (554, "5.7.1 Access denied", "RCPT TO", D, False, True),
    (550, "Relaying denied. Proper authentication required.", "RCPT TO", D, False, True),
    (530, "5.7.0 Authentication required", "RCPT TO", D, False, True),
    (530, "Must issue a STARTTLS command first", "MAIL FROM", D, False, True),
    (535, "5.7.8 Authentication credentials invalid", "connect", D, False, True),
    (550, "5.7.8 Error: authentication failed", "RCPT TO", D, False, True),
    (454, "4.7.1 <x@example.org>: Relay access denied", "RCPT TO", D, False, True),
    (553, "5.1.8 <news@today.az>: Sender address rejected: Domain not found", "MAIL FROM",
     D, False, True),
    (550, "5.7.1 Sender not allowed", "MAIL FROM", D, False, True),
    (550, "Sender rejected", "MAIL FROM", D, False, True),
    # Transient: later.
    (451, "4.3.0 Temporary lookup failure", "RCPT TO", D, False, False),
    (450, "4.2.0 Recipient address rejected: Greylisted", "RCPT TO", D, False, False),
    (451, "4.7.1 Please try again later", "RCPT TO", D, False, False),
    (421, "4.4.2 Connection timed out", "MAIL FROM", D, False, False),
    (552, "5.3.4 Message size exceeds fixed limit", "MAIL FROM", F, False, False),
    (0, "connection lost: Connection unexpectedly closed", "", D, False, False),
    # The enhanced code comes first: a 5xx marked 4.x.x is transient.
    (550, "4.2.2 Mailbox full", "RCPT TO", D, False, False),
]


@pytest.mark.parametrize(("code", "text", "stage", "status", "suppress", "relay"), TABLE)
def test_each_reply_means_one_thing(code: int, text: str, stage: str, status: JobStatus,
                                    suppress: bool, relay: bool) -> None:
    found = verdict(classify(code, text, stage))
    assert (found.status, found.suppress, bool(found.relay_fault)) == (status, suppress, relay)
    assert text in found.reply, "the relay's own words are kept"
    assert found.went_out


def test_a_message_that_never_went_out_is_not_an_attempt() -> None:
    for held in (Throttled(2.5, "relay", "relay:x"), NotAttempted(1.0, "not tried")):
        found = verdict(held)
        assert (found.status, found.retry, found.went_out, found.outcome) == (
            JobStatus.QUEUED, True, False, "throttled")
        assert found.wait == held.retry_after


def test_sent_and_giving_up() -> None:
    assert verdict(None, "250 2.0.0 OK").status is JobStatus.SENT
    refused = verdict(classify(530, "5.7.0 Authentication required", "RCPT TO"))
    final = gave_up(refused, 9)
    assert final.status is JobStatus.FAILED and not final.suppress
    assert final.reply.startswith("gave up after 9 attempts: ") and final.relay_fault


@pytest.mark.parametrize(("text", "code"), [("5.1.1 no", (5, 1, 1)), (" 4.7.0 x", (4, 7, 0)),
                                            ("5.1.10 null MX", (5, 1, 10)),
                                            ("no code here 5.1.1", None), ("5.1.1000", None)])
def test_enhanced_code_is_read_from_the_head(text: str, code: tuple[int, int, int] | None
                                             ) -> None:
    assert enhanced_code(text) == code
