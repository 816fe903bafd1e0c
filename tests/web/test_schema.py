"""schemathesis against the API's own OpenAPI schema: generated requests for every
operation (bodies, path parameters, headers) must never get a 5xx.

The operations are driven from a plain test (schemathesis' pytest plugin does not load
under this pytest), one Hypothesis run per operation."""

from __future__ import annotations

from collections.abc import Callable

import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from mailer.config import Settings
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS


def test_no_operation_answers_5xx(make_settings: Callable[..., Settings],
                                  redis_client: redis.Redis) -> None:
    app = create_app(make_settings(api_key="schema-test-key", confirm_resend_seconds=0,
                                   **NO_FLOOD_LIMITS))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label == "GET /readyz":
            continue  # its 503 without a worker is the documented answer (test_api)

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        check()
        tested.append(operation.label)
    assert "POST /share" in tested and "POST /webhooks/bounce" in tested
    assert len(tested) >= 12
