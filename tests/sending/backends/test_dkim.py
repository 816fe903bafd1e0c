"""The DKIM backend keeps the contract around another backend, and what reaches that
backend is signed: dkimpy's verifier accepts each message."""

from __future__ import annotations

import dkim
import pytest

from mailer.sending.backends.dkim import DkimBackend
from mailer.sending.backends.memory import MemoryBackend
from mailer.sending.dkim import DkimSigner, generate_key, load_signer
from tests.sending.backends.contract import BackendContract, Harness, make_envelope


@pytest.fixture(scope="module")
def signer_and_record(tmp_path_factory: pytest.TempPathFactory) -> tuple[DkimSigner, str]:
    pem, record = generate_key(1024)
    key = tmp_path_factory.mktemp("dkim") / "key.pem"
    key.write_bytes(pem)
    return load_signer(key, "today.az", "test"), record


class TestDkimBackend(BackendContract):
    @pytest.fixture
    def harness(self, signer_and_record: tuple[DkimSigner, str]) -> Harness:
        inner = MemoryBackend()
        return Harness(DkimBackend(inner, signer_and_record[0]),
                       lambda: [e.content() for e in inner.outbox])


def test_what_reaches_the_inner_backend_is_signed(
        signer_and_record: tuple[DkimSigner, str]) -> None:
    signer, record = signer_and_record
    inner = MemoryBackend()
    results = DkimBackend(inner, signer).send_messages(
        [make_envelope(f"r{i}@example.org") for i in range(2)])
    assert all(r.ok for r in results)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"test._domainkey.today.az."
        return record.encode()

    for envelope in inner.outbox:
        data = envelope.content()
        assert data.startswith(b"DKIM-Signature: ")
        assert dkim.verify(data, dnsfunc=dns)
