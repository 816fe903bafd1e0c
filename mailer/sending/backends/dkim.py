"""A backend that DKIM-signs each message on its way to another backend."""

from __future__ import annotations

from collections.abc import Sequence

from mailer.sending.backends.base import EmailBackend, ResultHook, SendResult, WaitForSlot
from mailer.sending.dkim import DkimSigner
from mailer.sending.message import Envelope


class DkimBackend(EmailBackend):
    """Signs each message, then hands it to `inner`."""

    def __init__(self, inner: EmailBackend, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        return self.inner.send_messages([self.signer.sign(e) for e in envelopes],
                                        on_result=on_result, wait_for_slot=wait_for_slot)
