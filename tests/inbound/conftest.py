"""What the inbound tests share: settings with a bounce address, on each database, the
stores over them and the intake. A module may override `settings`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mailer import services
from mailer.config import Settings
from mailer.inbound.intake import FeedbackIntake
from mailer.stores import Stores
from tests.support.returned import BOUNCES


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url, bounce_address=BOUNCES)


@pytest.fixture
def stores(settings: Settings, sessions: object) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


@pytest.fixture
def intake(settings: Settings, stores: Stores) -> FeedbackIntake:
    return services.feedback_intake(settings, stores)
