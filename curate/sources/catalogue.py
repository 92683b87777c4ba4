"""A retailer's product feed (CSV, Parquet or JSON lines): one product image per row.

Columns: product_id, name, brand, an image path or URL (image, image_path or image_url), and
optionally description and category (the retailer's own). Category, style and pattern come from
the title categoriser (the title first, then the retailer category, then the description);
excluded products (bags, swimwear, ...) are dropped and counted by rule. `max_brand_share`
caps every brand's share of each category, as the source document balanced brands so that no
brand dominates a category.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, read_json_lines, report_bad_item, require_file

IMAGE_COLUMNS = ("image", "image_path", "image_url")
REQUIRED = ("product_id", "name")


def feed_rows(path: Path, policy: ErrorPolicy) -> list[tuple[str, dict]]:
    """(where, row) per product; the format follows the file extension."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return [(f"line {n}", row) for n, row in read_json_lines(path, policy)]
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        first_row_line = 2  # the header is line 1
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        first_row_line = None
    else:
        raise CurateError.at(path, "expected a .csv, .parquet or .jsonl product feed")
    records = frame.to_dict("records")
    return [(f"line {i + first_row_line}" if first_row_line else f"row {i}", r) for i, r in enumerate(records)]


def _text(row: dict, column: str) -> str | None:
    """The cell as stripped text; None for absent, empty or null (CSV, JSON and Parquet alike)."""
    value = row.get(column)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


def catalogue_entry(row: dict, base: Path, resolver) -> dict:
    image = next((_text(row, c) for c in IMAGE_COLUMNS if _text(row, c)), None)
    if image is None:
        raise BadItem(f"no image path or URL (columns {', '.join(IMAGE_COLUMNS)})", field_name="image")
    for column in REQUIRED:
        if _text(row, column) is None:
            raise BadItem(f"'{column}' is empty", field_name=column)
    title = _text(row, "name")
    texts = [title] + [t for t in (_text(row, "category"), _text(row, "description")) if t]
    resolutions = [resolver.resolve(t) for t in texts]
    # the title decides; retailer category or description only fill in when it says nothing
    resolution = next((r for r in resolutions if r.status != "unmapped"), resolutions[0])
    is_url = "://" in image
    return {
        "source_id": _text(row, "product_id"),
        "path": image if is_url or Path(image).is_absolute() else str(base / image),
        "product_id": _text(row, "product_id"),
        "brand": _text(row, "brand"),
        "name": title,
        "retailer_category": _text(row, "category"),
        "objects": [{"source_label": title, "resolution": resolution}],
    }


def brand_caps(counts: Counter, share: float) -> int:
    """The largest per-brand count c with min(n, c) <= share * sum(min(n_b, c)) for every brand.

    With fewer brands than 1/share no cap satisfies it, so at least one product per brand stays.
    """
    cap = max(counts.values())
    while cap > 1 and cap > share * sum(min(n, cap) for n in counts.values()):
        cap -= 1
    return cap


def cap_brand_share(entries: list[dict], share: float, dropped: Counter) -> list[dict]:
    """Keep at most the capped number of each brand's products per category (lowest ids first)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        resolution = entry["objects"][0]["resolution"]
        if resolution.status == "mapped":
            groups[resolution.target.category or resolution.target.object_type].append(entry)
    removed = set()
    for members in groups.values():
        by_brand: dict[str, list[dict]] = defaultdict(list)
        for entry in sorted(members, key=lambda e: e["product_id"]):
            by_brand[entry["brand"] or "(no brand)"].append(entry)
        cap = brand_caps(Counter({b: len(v) for b, v in by_brand.items()}), share)
        for products in by_brand.values():
            removed.update(id(e) for e in products[cap:])
    if removed:
        dropped[f"brand share above {share:g} of its category (--max-brand-share)"] += len(removed)
    return [e for e in entries if id(e) not in removed]


def read_catalogue(path: str | Path, *, policy: ErrorPolicy, resolver, max_brand_share: float | None = None) -> SourceRead:
    feed = require_file(Path(path), "product feed")
    if max_brand_share is not None and not 0.0 < max_brand_share <= 1.0:
        raise CurateError(f"--max-brand-share must be within (0, 1], found {max_brand_share}")
    result = SourceRead(files=[str(feed)])
    entries = []
    for where, row in feed_rows(feed, policy):
        try:
            entry = catalogue_entry(row, feed.parent, resolver)
        except BadItem as exc:
            report_bad_item(policy, feed, exc, where)
            continue
        resolution = entry["objects"][0]["resolution"]
        if resolution.status == "dropped":
            result.dropped[f"products {resolution.reason}"] += 1
            continue
        entry["origin"] = (str(feed), where)
        entries.append(entry)
    result.images = cap_brand_share(entries, max_brand_share, result.dropped) if max_brand_share else entries
    return result
