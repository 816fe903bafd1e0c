"""What a DKIM signature costs per digest message, by part, beside dkimpy's own `sign()`
(the baseline) and the bare RSA and Ed25519 signatures (the ceiling: no signer can do
less than one of those per message).

    python bench/dkim_sign.py [--messages 300]

(Not bench/dkim.py: run as a script, that name would shadow dkimpy for `import dkim`.)

The messages are bench/digest.py's (its 20 articles, all three sections, one variant),
each with its own reader's greeting and links. Last line:
`dkim: rsa 2048 786 us/msg, with ed25519 830 us/msg; dkimpy 8368 us/msg; raw rsa sign 683 us`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dkim

from bench.digest import EDITION, articles
from mailer.config import load_settings
from mailer.digest.plan import Variant
from mailer.sending.canonical import relaxed_body, relaxed_headers
from mailer.sending.dkim import SIGNED, generate_key, load_signer
from mailer.sending.message import Envelope
from mailer.sending.mime import undot
from mailer.services import make_digest_mail
from mailer.subscriptions.model import (
    Preferences,
    Subscriber,
    SubscriberStatus,
)

T = TypeVar("T")


def per_message_us(fn: Callable[[T], object], items: Sequence[T], repeats: int = 3) -> float:
    """The median of `repeats` runs over `items`, per item."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        runs.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(runs)


def envelopes(var: Path, count: int) -> list[Envelope]:
    mail = make_digest_mail(load_settings(demo=True, var_dir=var))
    template = mail.template(Variant(EDITION, "Asia/Baku", ("economy", "politics", "society")),
                             articles())
    now = datetime.now(UTC)
    return [mail.envelope(template, Subscriber(
        f"s{i}", f"reader{i}@example.org", f"Reader {i}",
        Preferences(("politics",), "Asia/Baku", 7), SubscriberStatus.ACTIVE, now, None, now),
        b"Thu, 26 Nov 2026 07:00:00 +0400") for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dkim-bench-") as tmp:
        var = Path(tmp)
        rsa_pem = generate_key(2048)[0]
        (var / "rsa.pem").write_bytes(rsa_pem)
        (var / "ed25519.pem").write_bytes(generate_key(algorithm="ed25519")[0])
        rsa = load_signer(var / "rsa.pem", "today.az", "bench")
        both = load_signer(var / "rsa.pem", "today.az", "bench", var / "ed25519.pem", "ed")
        items = envelopes(var, args.messages)
        rsa.sign(items[0])  # the variant's canonical body is made on the first signature
        messages = [undot(e.as_bytes()) for e in items]
        heads = [m[:m.find(b"\r\n\r\n")] for m in messages]
        bodies = [m[m.find(b"\r\n\r\n") + 4:] for m in messages]
        body_hash = hashlib.sha256(relaxed_body(bodies[0])).digest()
        signed_names = frozenset(SIGNED)
        data = b"x" * 900  # about what a digest's signed header data comes to
        rsa_key, ed_key = both.keys[0], both.keys[1]

        ours = per_message_us(lambda e: rsa.sign(e).as_bytes(), items)
        ours_both = per_message_us(lambda e: both.sign(e).as_bytes(), items)
        parts = {
            "body hash, from the variant's template":
                per_message_us(lambda e: e.relaxed_body_hash and e.relaxed_body_hash(), items),
            "body hash, whole message (shares; the 7-bit form)":
                per_message_us(lambda b: hashlib.sha256(relaxed_body(b)).digest(), bodies),
            "signed headers, canonical":
                per_message_us(lambda h: relaxed_headers(h, signed_names), heads),
            "DKIM-Signature header, RSA signature included":
                per_message_us(lambda h: rsa.signature(h, body_hash), heads),
        }
        raw_rsa = per_message_us(rsa_key.sign, [data] * len(items))
        raw_ed = per_message_us(ed_key.sign, [data] * len(items))
        few = messages[: max(10, args.messages // 10)]
        baseline = per_message_us(lambda m: dkim.sign(m, b"bench", b"today.az", rsa_pem), few)

    print(f"DKIM signing of a digest ({len(messages[0]) // 1000} kB), {args.messages} "
          f"messages, median of 3 runs, microseconds per message")
    print(f"{'ours, rsa-sha256 (2048 bits)':<52}{ours:>8.0f}")
    print(f"{'ours, rsa-sha256 and ed25519-sha256':<52}{ours_both:>8.0f}")
    for name, cost in parts.items():
        print(f"  {name:<50}{cost:>8.0f}")
    print(f"{'dkimpy sign() (baseline, rsa-sha256)':<52}{baseline:>8.0f}   "
          f"ours is {baseline / ours:.0f}x")
    print(f"{'raw RSA-2048 signature (ceiling)':<52}{raw_rsa:>8.0f}   "
          f"{raw_rsa / ours:.0%} of ours")
    print(f"{'raw Ed25519 signature':<52}{raw_ed:>8.0f}")
    print(f"dkim: rsa 2048 {ours:.0f} us/msg, with ed25519 {ours_both:.0f} us/msg; "
          f"dkimpy {baseline:.0f} us/msg; raw rsa sign {raw_rsa:.0f} us")


if __name__ == "__main__":
    main()
