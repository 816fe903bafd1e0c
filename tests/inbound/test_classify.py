"""The classifier on the committed corpus of real returned mail (the issue's bars) and on
small synthetic messages, one per rule that matters to the feedback policy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.inbound.classify import classify

CORPUS = Path(__file__).parent / "corpus"
LABELS = [json.loads(line) for line in
          (CORPUS / "expected.jsonl").read_text(encoding="utf-8").splitlines() if line]
SAMPLES = [(CORPUS / label["file"]).read_bytes() for label in LABELS]


def test_the_corpus_is_read_as_labelled_within_the_issues_bars() -> None:
    types = expected = found = agree = 0
    for label, raw in zip(LABELS, SAMPLES, strict=True):
        result = classify(raw)
        types += result.type == label["type"]
        got = {r.address: r.hard for r in result.recipients}
        for recipient in label["recipients"]:
            expected += 1
            if recipient["address"] in got:
                found += 1
                agree += got[recipient["address"]] == recipient["hard"]
    assert types / len(LABELS) >= 0.98
    assert found / expected >= 0.97
    assert agree / found >= 0.90


def _dsn(*blocks: str, subject: str = "Undelivered Mail Returned to Sender") -> bytes:
    per_recipient = "\n\n".join(blocks)
    return f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: bounces@news.example.org
Subject: {subject}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mx.example.net.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

{per_recipient}

--B
Content-Type: message/rfc822

Message-ID: <job-42@news.example.org>
From: news@news.example.org
To: reader@example.com
Subject: Today's digest
X-Mailer-Job: 42

Hello
--B--
""".encode()


def _recipient(address: str, action: str, status: str, diagnostic: str) -> str:
    return (f"Final-Recipient: rfc822; {address}\nAction: {action}\nStatus: {status}\n"
            f"Diagnostic-Code: smtp; {diagnostic}")


def test_a_dsn_with_two_recipients_of_different_statuses() -> None:
    result = classify(_dsn(
        _recipient("Gone@Example.com", "failed", "5.1.1", "550 5.1.1 User unknown"),
        _recipient("full@example.com", "failed", "5.2.2", "552 5.2.2 Mailbox full")))
    assert result.type == "bounce"
    gone, full = result.recipients
    assert (gone.address, gone.status, gone.hard) == ("gone@example.com", "5.1.1", True)
    assert (full.address, full.status, full.hard) == ("full@example.com", "5.2.2", False)
    assert gone.diagnostic == "550 5.1.1 User unknown"
    assert result.original_message_id == "<job-42@news.example.org>"
    assert result.original_headers["X-Mailer-Job"] == "42"
    assert not result.blames_us


def test_a_delay_is_never_hard() -> None:
    result = classify(_dsn(_recipient("slow@example.com", "delayed", "4.4.7",
                                      "450 4.1.1 User unknown, try later"),
                           subject="Delayed Mail (still being retried)"))
    assert result.type == "delay"
    assert [(r.address, r.hard) for r in result.recipients] == [("slow@example.com", False)]


def test_a_provider_warning_without_a_report_is_a_delay() -> None:
    raw = (b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
           b"To: bounces@news.example.org\nSubject: Delivery Status Notification (Delay)\n\n"
           b"This is an automatically generated Delivery Status Notification.\n"
           b"THIS IS A WARNING MESSAGE ONLY.\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
           b"Delivery to the following recipient has been delayed:\n\n     slow@example.com\n")
    result = classify(raw)
    assert result.type == "delay"
    assert all(not r.hard for r in result.recipients)


def test_a_blocklist_refusal_blames_us_and_no_reader() -> None:
    result = classify(_dsn(_recipient(
        "reader@example.com", "failed", "5.7.1",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org")))
    assert result.type == "bounce"
    assert result.blames_us
    assert not result.recipients[0].hard


def _arf(feedback_type: str) -> bytes:
    return f"""From: feedback@fbl.example.net
To: abuse@news.example.org
Subject: FW: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.
--F
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeFBL/1.0
Version: 1
Original-Rcpt-To: reader@example.com

--F
Content-Type: message/rfc822

Message-ID: <job-7@news.example.org>
From: news@news.example.org
To: reader@example.com
Subject: Digest

Hi
--F--
""".encode()


def test_an_arf_abuse_or_opt_out_report_is_a_complaint_a_dmarc_report_is_not() -> None:
    abuse = classify(_arf("abuse"))
    assert abuse.type == "complaint"
    assert [r.address for r in abuse.recipients] == ["reader@example.com"]
    assert abuse.original_message_id == "<job-7@news.example.org>"
    # a loop's opt-out: the reader asked their provider to stop our mail; it names them
    # in Removal-Recipient and carries no token an unsubscribe mail would need
    opt_out = _arf("opt-out").replace(b"Original-Rcpt-To:", b"Removal-Recipient:")
    for raw in (opt_out, opt_out.replace(b"opt-out", b"opt-out-list")):
        result = classify(raw)
        assert result.type == "complaint"
        assert [r.address for r in result.recipients] == ["reader@example.com"]
    assert classify(_arf("auth-failure")).type == "unknown"
    assert classify(_arf("not-spam")).type == "unknown"


@pytest.mark.parametrize("header", [
    "Auto-Submitted: auto-replied", "X-Autoreply: yes", "Precedence: auto_reply",
    "Subject: Out of Office: Today's digest", "Subject: Automatic reply: Today's digest",
    "Subject: Abwesenheitsnotiz: Today's digest"])
def test_auto_replies_are_auto_replies(header: str) -> None:
    raw = (f"From: Reader <reader@example.com>\nTo: news@news.example.org\n{header}\n"
           f"\nI am away until Monday.\n").encode()
    if not header.startswith("Subject"):
        raw = b"Subject: Re: Today's digest\n" + raw
    result = classify(raw)
    assert result.type == "auto-reply"
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_mail_to_the_unsubscribe_mailbox_is_an_unsubscribe() -> None:
    raw = (b"From: Reader <reader@example.com>\nTo: unsubscribe+tok3n@news.example.org\n"
           b"Subject: unsubscribe\n\nunsubscribe\n")
    mailbox = "unsubscribe@news.example.org"
    result = classify(raw, unsubscribe_mailbox=mailbox)
    assert result.type == "unsubscribe"
    assert [r.address for r in result.recipients] == ["reader@example.com"]
    assert classify(raw, envelope_to="unsubscribe@news.example.org",
                    unsubscribe_mailbox=mailbox).type == "unsubscribe"
    assert classify(raw, envelope_to="news@news.example.org",
                    unsubscribe_mailbox=mailbox).type == "unknown"
    assert classify(raw).type == "unknown"


def test_an_exim_bounce_without_a_report() -> None:
    raw = (b"From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
           b"To: bounces@news.example.org\n"
           b"Subject: Mail delivery failed: returning message to sender\n"
           b"X-Failed-Recipients: gone@example.net\n\n"
           b"This message was created automatically by mail delivery software.\n\n"
           b"A message that you sent could not be delivered to one or more of its\n"
           b"recipients. This is a permanent error. The following address(es) failed:\n\n"
           b"  gone@example.net\n    SMTP error from remote mail server after RCPT TO:"
           b"<gone@example.net>:\n    550 5.1.1 <gone@example.net>: User unknown\n")
    result = classify(raw)
    assert result.type == "bounce"
    [gone] = result.recipients
    assert (gone.address, gone.status, gone.hard) == ("gone@example.net", "5.1.1", True)


HOSTILE = [
    b"", b"\x00\xff" * 1000, b"Subject: =?bogus-charset?Q?=FF?=\n\n\xff\xfe",
    b"Content-Type: multipart/mixed; boundary=x\n\n" + b"--x\nContent-Type: multipart/mixed;"
    b" boundary=x\n\n" * 5000,
    b"Content-Type: message/delivery-status; charset=nope\nContent-Transfer-Encoding: "
    b"base64\n\n!!!notbase64",
    b"From: MAILER-DAEMON@x\nSubject: failure notice\n\n" + b"<a@b.cc>:\n" * 20000,
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_input_never_raises(raw: bytes) -> None:
    result = classify(raw)
    assert len(result.recipients) <= 1000


def test_a_25_mb_message_is_read_in_bounded_time() -> None:
    raw = _dsn(_recipient("gone@example.com", "failed", "5.1.1", "550 User unknown"))
    huge = raw.replace(b"Hello", b"x" * (25 * 1024 * 1024))
    started = time.perf_counter()
    result = classify(huge)
    assert time.perf_counter() - started < 5
    assert result.type == "bounce"


def _mangle(raw: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(raw)
    for at, length, junk in cuts:
        where = at % (len(data) + 1)
        data[where:where + length] = junk
    return bytes(data)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SAMPLES) - 1),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 200), st.binary(max_size=64)),
                max_size=8))
def test_mangled_corpus_messages_never_raise_and_stay_fast(
        index: int, cuts: list[tuple[int, int, bytes]]) -> None:
    started = time.perf_counter()
    result = classify(_mangle(SAMPLES[index], cuts))
    assert time.perf_counter() - started < 1
    assert result.type in ("bounce", "delay", "complaint", "auto-reply", "unsubscribe",
                           "unknown")


# Hard or soft as Sisimai 4 ranks the reasons (mailer/inbound/severity.py): one case per
# rule, each a small hand-written report.
@pytest.mark.parametrize(("status", "diagnostic", "hard"), [
    # an unknown mailbox by its status, or by its words answered to RCPT, even under a
    # temporary or policy code
    ("5.1.1", "550 5.1.1 Mailbox does not exist", True),
    ("4.1.1", "450 4.1.1 <gone@example.com>: Recipient address rejected: User unknown "
              "in virtual alias table (in reply to RCPT TO command)", True),
    ("5.7.1", "553 Invalid recipient gone@example.com (in reply to RCPT TO command)", True),
    # the same words under a 5.2.x code, or after the message was sent, are a filter's
    ("5.2.1", "550 5.2.1 <gone@example.com>... User Unknown", False),
    ("5.0.0", "SMTP error from remote mail server after end of data: 550 User unknown",
     False),
    ("5.0.0", "server message 550 unknown user <gone@example.com> SMTP command DATA", False),
    # the words alone, with no stage and no specific code: the mailbox is gone
    ("5.0.0", "550 <gone@example.com>: User unknown", True),
    # the server refused our sender at MAIL FROM, whatever its code
    ("5.1.0", "SMTP error from remote mail server after MAIL FROM:<news@example.org>: "
              "553 5.1.0 sender refused", False),
    # a suspended or disabled account ranks before an unknown one
    ("5.1.1", "550 5.1.1 Mailbox unavailable or access denied", False),
    ("5.1.1", "550 5.1.1 This account has been suspended", False),
    # moved, null MX, no such domain: hard by the code alone
    ("5.1.6", "551 not our customer", True),
    ("5.7.17", "550 5.7.17 Mailbox owner has changed", True),
    ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", True),
    ("5.4.4", "554 5.4.4 Unable to route", True),
    # ... unless the name server only failed for now
    ("5.4.4", "Name service error for name=example.com type=MX: Malformed name server reply",
     False),
    # a bare x.0.0 status gives way to the specific code in the server's words
    ("5.0.0", "550 5.7.26 <gone@example.com>: Recipient address rejected: Multiple "
              "authentication checks failed", False),
])
def test_hard_or_soft_follows_sisimais_order_of_reasons(status: str, diagnostic: str,
                                                        hard: bool) -> None:
    result = classify(_dsn(_recipient("gone@example.com", "failed", status, diagnostic)))
    assert result.type == "bounce"
    assert [r.hard for r in result.recipients] == [hard]


def test_the_stage_told_only_in_the_human_part_counts() -> None:
    """Postfix writes "in reply to RCPT TO command" beside the recipient in its text,
    not in the Diagnostic-Code."""
    raw = _dsn(_recipient("gone@example.com", "failed", "5.0.0",
                          "550 <gone@example.com>: User unknown"))
    told = (b"<gone@example.com>: host mx.example.com[192.0.2.1] said: 550 User unknown "
            b"(in reply to RCPT TO command)")
    result = classify(raw.replace(b"This is the mail system at host mx.example.net.", told))
    assert [r.hard for r in result.recipients] == [True]
    after_data = classify(raw.replace(b"This is the mail system at host mx.example.net.",
                                      told.replace(b"RCPT TO", b"end of DATA")))
    assert [r.hard for r in after_data.recipients] == [False]


def test_recipients_written_without_a_blank_line_between_them() -> None:
    """AOL's relay runs every recipient's fields together; Amazon writes Action first."""
    fields = ("Final-Recipient: rfc822; full@example.com\nAction: failed\nStatus: 5.2.2\n"
              "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
              "Action: failed\nFinal-Recipient: rfc822; gone@example.com\nStatus: 5.1.1\n"
              "Diagnostic-Code: smtp; 550 5.1.1 User unknown")
    result = classify(_dsn(fields))
    assert [(r.address, r.status, r.hard) for r in result.recipients] == [
        ("full@example.com", "5.2.2", False), ("gone@example.com", "5.1.1", True)]


def test_an_sns_envelope_carries_the_ses_notification_as_a_string() -> None:
    inner = json.dumps({"notificationType": "Bounce", "bounce": {
        "bounceType": "Permanent", "bouncedRecipients": [
            {"emailAddress": "gone@example.com", "status": "5.1.1",
             "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}})
    # a mail system's line wrap inside the string, as SNS's mail arrives
    envelope = json.dumps({"Type": "Notification", "Message": inner}).replace(
        "user unknown", "user!\n unknown")
    raw = (f"From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: ops@news.example.org\n"
           f"Subject: AWS Notification Message\n\n{envelope}\n").encode()
    result = classify(raw)
    assert result.type == "bounce"
    assert [(r.address, r.status, r.hard) for r in result.recipients] == [
        ("gone@example.com", "5.1.1", True)]


def test_a_mailing_list_manager_refusing_the_post_is_a_bounce_for_the_list() -> None:
    raw = (b"From: news-admin@lists.example.org\nTo: bounces@news.example.org\n"
           b"Subject: You bounces@news.example.org are not member (news ML)\n"
           b"X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n\n"
           b"You are not a member of this mailing list <news@lists.example.org>.\n\n"
           b"If you know the general guide of this list, please send mail with\n"
           b"the mail body guide to the address news-ctl@lists.example.org\n")
    result = classify(raw)
    assert result.type == "bounce"
    assert [(r.address, r.hard) for r in result.recipients] == [("news@lists.example.org", False)]
    assert classify(raw.replace(b"X-MLServer: fml", b"X-Mailer: fml")).type == "unknown"


def test_a_carrier_notice_that_says_only_could_not_be_delivered_to() -> None:
    """KDDI's au one net: a Japanese subject, a no-reply sender, one English line."""
    raw = (b"From: no-reply@mail.example.ne.jp\nTo: bounces@news.example.org\n"
           b"Subject: =?UTF-8?B?44Oh44O844Or44Ko44Op44O86YCa55+l?=\n\n"
           b"Your mail sent on: Thu, 29 Apr 2013 23:45:22 +0900\n"
           b"     Could not be delivered to: <full@example.ne.jp>\n"
           b"     As their mailbox is full.\n")
    result = classify(raw)
    assert result.type == "bounce"
    assert [(r.address, r.hard) for r in result.recipients] == [("full@example.ne.jp", False)]
    # the Japanese subject alone ("mail error notice") is a bounce too
    assert classify(raw.replace(b"Could not be delivered to:", b"Recipient:")).type == "bounce"


def test_a_feedback_report_with_its_report_part_labelled_as_text() -> None:
    raw = _arf("abuse").replace(b"Content-Type: message/feedback-report",
                                b"Content-Type: text/plain")
    result = classify(raw)
    assert result.type == "complaint"
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_a_feedback_report_without_a_report_part_is_a_complaint_by_its_declaration() -> None:
    raw = _arf("abuse")
    start = raw.index(b"--F\nContent-Type: message/feedback-report")
    raw = raw[:start] + raw[raw.index(b"--F\nContent-Type: message/rfc822"):]
    result = classify(raw)
    assert result.type == "complaint"
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_addresses_as_mta_write_them_quoted_or_as_an_encoded_word() -> None:
    dotted = classify(_dsn(_recipient('"two..dots"@example.com', "failed", "5.1.1",
                                      '550 5.1.1 <"two..dots"@example.com>... User unknown')))
    assert [r.address for r in dotted.recipients] == ['"two..dots"@example.com']
    raw = (b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\n"
           b"To: bounces@news.example.org\nSubject: Returned mail: see transcript for details\n\n"
           b"   ----- The following addresses had permanent fatal errors -----\n"
           b"<=?utf-8?B?8J+QiPCfkIg=?=@example.org>\n"
           b"    (reason: 550 5.1.1 <=?utf-8?B?8J+QiPCfkIg=?=@example.org>... User unknown)\n")
    assert [r.address for r in classify(raw).recipients] == ["=?utf-8?b?8j+qipcfkig=?=@example.org"]


def _report_as(content_type: bytes, report_type: bytes) -> bytes:
    """_arf's report with its outer and report parts' types as some loops write them."""
    return _arf("abuse").replace(
        b"multipart/report; report-type=feedback-report", content_type).replace(
        b"Content-Type: message/feedback-report", b"Content-Type: " + report_type)


@pytest.mark.parametrize(("outer", "part"), [
    (b"multipart/report; report-type=feedback-report", b"text/feedback-report"),
    (b"multipart/mixed; report-type=feedback-report", b"message/feedback-report"),
    (b"multipart/mixed", b"message/feedback-report"),
    (b"multipart/mixed", b"text/plain"),  # the report's fields open a plain text part
    (b"multipart/mixed; report-type=feedback-report", b"application/octet-stream")])
def test_feedback_reports_with_odd_content_types(outer: bytes, part: bytes) -> None:
    result = classify(_report_as(outer, part))
    assert result.type == "complaint"
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_a_plain_text_part_that_only_mentions_feedback_type_is_no_report() -> None:
    raw = _report_as(b"multipart/mixed", b"text/plain").replace(
        b"Feedback-Type: abuse", b"Our form asks for\nFeedback-Type: abuse")
    raw = raw.replace(b"This is an email abuse report.", b"Hello, see the attached.")
    assert classify(raw).type != "complaint"


_FORWARD = b"""From: Abuse Desk <abuse@isp.example.net>
To: abuse@news.example.org
Subject: Fw: Digest
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.7 on
Thu, 26 Nov 2026 08:00:00 +0000. A subscriber of ours marked it as spam.
--B
Content-Type: message/rfc822

Message-ID: <job-9@news.example.org>
From: news@news.example.org
To: reader@isp.example.net
Subject: Digest

Hi
--B--
"""


def test_an_abuse_report_forwarded_without_its_report_part_is_a_complaint() -> None:
    result = classify(_FORWARD)
    assert result.type == "complaint"
    assert [r.address for r in result.recipients] == ["reader@isp.example.net"]
    assert result.original_message_id == "<job-9@news.example.org>"
    # the words alone, with no reported message, or not opening the text: not a report
    alone = _FORWARD[:_FORWARD.index(b"--B\nContent-Type: message/rfc822")] + b"--B--\n"
    assert classify(alone).type != "complaint"
    assert classify(_FORWARD.replace(b"This is an email abuse report", b"Hi. Was this an "
                                     b"email abuse report")).type != "complaint"


_JMRP_HEADERS = b"""X-HmXmrOriginalRecipient: reader@hotmail.example
X-Reporter-IP: 198.51.100.4
Message-ID: <job-11@news.example.org>
From: news@news.example.org
To: reader@hotmail.example
Subject: Digest
"""


def test_microsofts_jmrp_attached_or_sent_back_as_is_is_a_complaint() -> None:
    attached = (b"From: staff@hotmail.example\nTo: fbl@news.example.org\n"
                b"Subject: complaint about message from 192.0.2.7\nMIME-Version: 1.0\n"
                b'Content-Type: multipart/mixed; boundary="J"\n\n--J\n'
                b"Content-Type: text/plain\n\nThis is a MSN Hotmail-based email.\n--J\n"
                b"Content-Type: message/rfc822\n\n" + _JMRP_HEADERS + b"\nHi\n--J--\n")
    # Hotmail's older loop: the reported message itself, the X-HmXmr headers at its top
    as_is = b"Return-Path: staff@hotmail.example\n" + _JMRP_HEADERS + b"\nHi\n"
    for raw in (attached, as_is):
        result = classify(raw)
        assert result.type == "complaint"
        assert [r.address for r in result.recipients] == ["reader@hotmail.example"]


def _loop_report(outer: str, subject: str, agent: str, rcpt_field: str,
                 original_type: str) -> bytes:
    return f"""From: feedback@loop.example.net
To: fbl@news.example.org
Subject: {subject}
MIME-Version: 1.0
Content-Type: {outer}

--L
Content-Type: text/plain

This is an email abuse report for an email message from news.example.org.
--L
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: {agent}
Version: 0.1
{rcpt_field}Received-Date: Thu, 26 Nov 2026 08:00:00 +0000

--L
Content-Type: {original_type}

Message-ID: <job-12@news.example.org>
From: news@news.example.org
To: reader@loop.example.net
Subject: Digest

--L--
""".encode()


@pytest.mark.parametrize(("outer", "subject", "agent", "rcpt_field", "original_type"), [
    # Yahoo: parameters after the boundary, quoted; the recipient only in the original's To
    ('multipart/report; boundary="L"; report-type="feedback-report"', "FW: Digest",
     "Yahoo!-Mail-Feedback/1.0", "", "message/rfc822"),
    # AOL: "Email Feedback Report for IP ...", the original attached, no Original-Rcpt-To
    ('multipart/report; report-type=feedback-report; boundary="L"',
     "Email Feedback Report for IP 192.0.2.7", "AOL SComp", "", "message/rfc822"),
    # Comcast: only the original's headers, as text/rfc822-headers
    ('multipart/report; boundary="L"; report-type="feedback-report"', "comcast Abuse Report",
     "Comcast FBL", "Original-Rcpt-To: reader@loop.example.net\n", "text/rfc822-headers"),
    # the loops in CwsMailBounceHandler's samples: text/rfc822-header, singular
    ('multipart/report; report-type=feedback-report;\n\tboundary="L"', "FW: Digest",
     "SomeGenerator/1.0", "", "text/rfc822-header")])
def test_feedback_loop_formats_of_the_big_providers(outer: str, subject: str, agent: str,
                                                     rcpt_field: str, original_type: str
                                                     ) -> None:
    result = classify(_loop_report(outer, subject, agent, rcpt_field, original_type))
    assert result.type == "complaint"
    assert [r.address for r in result.recipients] == ["reader@loop.example.net"]
    assert result.original_message_id == "<job-12@news.example.org>"


def test_sendmails_summary_line_is_not_where_the_returned_message_starts() -> None:
    raw = b"""From: mailer-daemon@mail.example.net
To: news@news.example.org
Subject: Mail Delivery Status Notification (Delay)

This message was created automatically by mail delivery system.

THIS IS A WARNING MESSAGE ONLY.

The original message was received at Thu, 26 Nov 2026 08:00:00 +0000
from news@news.example.org

----- The following addresses had errors -----
[Status: Error, Address: <reader@example.com>, ResponseCode 421, , Host not reachable.]

Message will be retried for 4 more day(s)
"""
    result = classify(raw)
    assert result.type == "delay"
    assert [(r.address, r.hard) for r in result.recipients] == [("reader@example.com", False)]
