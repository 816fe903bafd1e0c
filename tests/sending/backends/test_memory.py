"""The memory backend keeps the contract."""

from __future__ import annotations

import pytest

from mailer.sending.backends.memory import MemoryBackend
from tests.sending.backends.contract import BackendContract, Harness


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def harness(self) -> Harness:
        backend = MemoryBackend()
        return Harness(backend, lambda: [e.content() for e in backend.outbox])
