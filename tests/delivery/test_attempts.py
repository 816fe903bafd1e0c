from __future__ import annotations

import json

import pytest

from mailer.delivery.attempts import attempt_line


@pytest.mark.parametrize("fields", [
    ("0123456789abcdef0123456789abcdef", "digest", "example.org", "sent", 250, 0.32, 1234.5),
    ("m1", "share", "bücher.example", "deferred", 451, 12.0, None),
    ('odd "id"\\\n', "confirm", "xn--bcher-kva.example", "failed", None, None, 0.0),
    ("m2", "alert", "例え.テスト", "throttled", 421, 1e-05, 86400000.1),
])
def test_an_attempt_line_is_what_json_makes_of_it(
        fields: tuple[str, str, str, str, int | None, float | None, float | None]) -> None:
    message_id, kind, domain, outcome, code, smtp_ms, queued_ms = fields
    expected = json.dumps({"event": "delivery_attempt", "message_id": message_id,
                           "kind": kind, "domain": domain, "outcome": outcome,
                           "smtp_code": code, "smtp_ms": smtp_ms, "queued_ms": queued_ms},
                          separators=(",", ":"))
    assert attempt_line(*fields) == expected
    assert json.loads(attempt_line(*fields))["domain"] == domain
