"""How well `mailer.inbound.classify` reads real returned mail, beside GNU Mailman's
flufl.bounce (when it is installed), on a corpus of saved messages with expected labels
(`expected.jsonl`: file, type, recipients[{address, status, hard}]).

    python bench/classify.py [CORPUS_DIR]   (default tests/inbound/corpus)

Prints, for ours and for flufl.bounce: type accuracy (ours only: flufl has no types),
share of failed recipients found, hard/soft agreement on those found, false recipients,
the families (file name without its number) with misses, and ms per message. The last
line is the summary issue 23 asks for.
"""

from __future__ import annotations

import argparse
import email
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.inbound.classify import classify

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "inbound" / "corpus"
# What a reader returns for one file: (type or None, {address: hard}).
Reader = Callable[[bytes], tuple[str | None, dict[str, bool]]]


@dataclass
class Score:
    files: int = 0
    types_right: int = 0
    expected: int = 0
    found: int = 0
    hard_agree: int = 0
    false: int = 0
    seconds: float = 0.0
    misses: Counter[str] = field(default_factory=Counter)

    def percent(self, part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else 100.0


def ours(raw: bytes) -> tuple[str | None, dict[str, bool]]:
    result = classify(raw)
    return result.type, {r.address: r.hard for r in result.recipients}


def flufl_reader() -> Reader | None:
    try:
        from flufl.bounce import all_failures
    except ImportError:
        return None

    def read(raw: bytes) -> tuple[str | None, dict[str, bool]]:
        message = email.message_from_bytes(raw)
        try:
            temporary, permanent = all_failures(message)
        except Exception:  # flufl.bounce raises on some odd headers: it found nothing
            return None, {}
        found = {_text(a): False for a in temporary}
        found.update({_text(a): True for a in permanent})
        return None, found

    return read


def _text(address: bytes | str) -> str:
    value = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return value.strip().lower()


def measure(corpus: Path, labels: list[dict], reader: Reader) -> Score:
    score = Score()
    for label in labels:
        raw = (corpus / label["file"]).read_bytes()
        started = time.perf_counter()
        kind, found = reader(raw)
        score.seconds += time.perf_counter() - started
        score.files += 1
        family = re.sub(r"-\d+\.eml$", "", label["file"])
        if kind is not None and kind == label["type"]:
            score.types_right += 1
        elif kind is not None:
            score.misses[f"{family} (type)"] += 1
        expected = {r["address"]: r["hard"] for r in label["recipients"]}
        score.expected += len(expected)
        for address, hard in expected.items():
            if address not in found:
                score.misses[f"{family} (recipient)"] += 1
                continue
            score.found += 1
            if found[address] == hard:
                score.hard_agree += 1
            else:
                score.misses[f"{family} (hard/soft)"] += 1
        score.false += len(set(found) - set(expected))
    return score


def report(name: str, score: Score) -> None:
    print(f"{name}:")
    if name == "classify":
        print(f"  type right        {score.percent(score.types_right, score.files):6.1f}%"
              f"  ({score.types_right}/{score.files})")
    print(f"  recipients found  {score.percent(score.found, score.expected):6.1f}%"
          f"  ({score.found}/{score.expected})")
    print(f"  hard/soft agree   {score.percent(score.hard_agree, score.found):6.1f}%"
          f"  ({score.hard_agree}/{score.found})")
    print(f"  false recipients  {score.false}")
    print(f"  ms per message    {1000 * score.seconds / max(score.files, 1):6.2f}")
    misses = ", ".join(f"{k} {v}" for k, v in sorted(score.misses.items()))
    print(f"  misses by family: {misses or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS,
                        help="a folder with *.eml files and expected.jsonl")
    args = parser.parse_args()
    lines = (args.corpus / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    labels = [json.loads(line) for line in lines if line.strip()]
    mine = measure(args.corpus, labels, ours)
    report("classify", mine)
    flufl = flufl_reader()
    theirs = measure(args.corpus, labels, flufl) if flufl else None
    if theirs is not None:
        report("flufl.bounce", theirs)
    flufl_figure = (f"{theirs.percent(theirs.found, theirs.expected):.1f}%"
                    if theirs else "n/a (not installed)")
    print(f"classify N={mine.files}: type {mine.percent(mine.types_right, mine.files):.1f}%, "
          f"recipients {mine.percent(mine.found, mine.expected):.1f}%, "
          f"hard/soft {mine.percent(mine.hard_agree, mine.found):.1f}%; "
          f"flufl.bounce recipients {flufl_figure}")


if __name__ == "__main__":
    main()
