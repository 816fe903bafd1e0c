"""Rendering cost per share e-mail, on our own templates and the seed article.

Compares the two CSS inliners (premailer, the design card's; css-inline) and, for each,
a full render + inline per message (the baseline) against the cached article part with
only the names and note filled in (what the worker does). One run prints all figures
side by side.

    python bench/render.py [--messages N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.articles.files import read_seed_articles
from mailer.config import load_settings
from mailer.services import make_renderer
from mailer.share.request import validate_share


def shares(article_id: str, count: int):
    return [validate_share({
        "article_id": article_id, "sender_name": f"Reader {i}",
        "sender_email": f"reader{i}@example.com", "friend_name": f"Friend {i}",
        "friend_email": f"friend{i}@example.org", "message": f"Note number {i}."})
        for i in range(count)]


def per_message_ms(fn, items, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        runs.append((time.perf_counter() - start) / len(items) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    article = read_seed_articles(load_settings().seeds_dir)[0]
    items = shares(article.id, args.messages)
    baseline_items = items[: max(10, args.messages // 10)]
    print(f"share e-mail render, seed article, median of 3 runs; "
          f"{len(baseline_items)} uncached / {len(items)} cached messages")
    print(f"{'inliner':<12}{'full render ms/msg':>20}{'cached ms/msg':>16}{'cached msg/s':>14}")
    results = {}
    for inliner in ("premailer", "css_inline"):
        renderer = make_renderer(load_settings(inliner=inliner))
        full = per_message_ms(lambda s, r=renderer: r.render_uncached(article, s), baseline_items)
        renderer.render(article, items[0])
        cached = per_message_ms(lambda s, r=renderer: r.render(article, s), items)
        results[inliner] = (full, cached)
        print(f"{inliner:<12}{full:>20.3f}{cached:>16.4f}{1000 / cached:>14.0f}")
    speedup = results["premailer"][0] / results["css_inline"][0]
    cache_gain = results["css_inline"][0] / results["css_inline"][1]
    print(f"css_inline full render is {speedup:.1f}x faster than premailer; caching the "
          f"article part makes a message {cache_gain:.0f}x cheaper than a css_inline full render")


if __name__ == "__main__":
    main()
