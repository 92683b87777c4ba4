"""Title categoriser throughput on generated titles, against a bare str.lower().split() pass.

Usage: python bench/bench_categorise.py [--titles 1000000] [--seed 0]
Runs on one core (one process). Titles are built from the taxonomy's own vocabulary:
[pattern] [attribute] [style] category-synonym, with some exclusions and noise words.
"""

from __future__ import annotations

import argparse
import random
import time

from curate.taxonomy import TitleCategoriser, load_taxonomy

NOISE = ["Womens", "Mens", "Black", "Navy", "Cotton", "Linen", "New", "Organic", "Relaxed", "Premium"]


def generate_titles(n: int, seed: int) -> list[str]:
    tax = load_taxonomy()
    rng = random.Random(seed)
    cats = list(tax.categories.values())
    patterns = [p for p, syns in tax.patterns.items() for p in (p, *syns)]
    attrs = [v for key in tax.attributes.values() for v in key.values]
    exclusions = [t for e in tax.exclusions.values() for t in e.head + e.anywhere]
    titles = []
    for _ in range(n):
        cat = rng.choice(cats)
        words = []
        if rng.random() < 0.5:
            words.append(rng.choice(NOISE))
        if rng.random() < 0.4:
            words.append(rng.choice(patterns))
        if rng.random() < 0.3:
            words.append(rng.choice(attrs))
        if cat.styles and rng.random() < 0.6:
            words.append(rng.choice(cat.styles))
        if rng.random() < 0.05:
            words.append(rng.choice(exclusions))
        else:
            words.append(rng.choice((cat.name, *cat.synonyms)))
        titles.append(" ".join(w.title() for w in words))
    return titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    titles = generate_titles(args.titles, args.seed)
    categoriser = TitleCategoriser()

    start = time.perf_counter()
    tokens = 0
    for title in titles:
        tokens += len(title.lower().split())
    baseline_s = time.perf_counter() - start

    start = time.perf_counter()
    categorised = sum(1 for title in titles if categoriser.categorise(title).category is not None)
    categorise_s = time.perf_counter() - start

    rate = len(titles) / categorise_s
    print(f"titles:                  {len(titles):,}")
    print(f"categorised:             {categorised:,} ({categorised / len(titles):.1%})")
    print(f"baseline lower().split() {len(titles) / baseline_s:,.0f} titles/s ({baseline_s:.2f} s)")
    print(f"categoriser              {rate:,.0f} titles/s ({categorise_s:.2f} s)")
    print(f"ratio categoriser/baseline time: {categorise_s / baseline_s:.1f}x slower; target >= 50,000 titles/s: {'met' if rate >= 50_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
