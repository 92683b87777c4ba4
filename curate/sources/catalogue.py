"""A retailer's product feed (CSV, Parquet or JSON lines): one product image per row.

Columns: product_id, name, brand, an image path or URL (image, image_path or image_url), and
optionally description and category (the retailer's own). Category, style and pattern come from
the title categoriser (the title first, then the retailer category, then the description);
excluded products (bags, swimwear, ...) are dropped and counted by rule. `max_brand_share`
caps every brand's share of each category, as the source document balanced brands so that no
brand dominates a category.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, read_json_lines, read_text, report_bad_item, require_file

IMAGE_COLUMNS = ("image", "image_path", "image_url")
REQUIRED = ("product_id", "name")


def feed_rows(path: Path, policy: ErrorPolicy, decoding: list[dict[str, str]] | None = None) -> tuple[list[str] | None, list[tuple[str, dict]]]:
    """(header, [(where, row)]) per product; the format follows the file extension. JSON lines
    have no header (None): each line names its own fields."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return None, [(f"line {n}", row) for n, row in read_json_lines(path, policy, decoding)]
    if suffix == ".csv":
        return csv_rows(path, policy, decoding)
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise CurateError.at(path, f"not a readable Parquet table: {exc}") from None
        return [str(c) for c in frame.columns], [(f"row {i}", r) for i, r in enumerate(frame.to_dict("records"))]
    raise CurateError.at(path, "expected a .csv, .parquet or .jsonl product feed")


def csv_rows(path: Path, policy: ErrorPolicy, decoding: list[dict[str, str]] | None) -> tuple[list[str], list[tuple[str, dict]]]:
    """A CSV feed's header and rows, each row named by the line it starts on.

    A row with more or fewer fields than the header is bad input (skippable); a quote that is
    never closed makes the rest of the file one field, so it stops the import.
    """
    try:
        text = read_text(path, decoding)
    except BadItem as exc:
        raise CurateError.at(path, str(exc)) from None
    if not text.strip():
        raise CurateError.at(path, "empty file: expected a header line naming the columns")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[tuple[str, dict]] = []
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise CurateError.at(path, "unterminated quoted field: the quote opened here is never closed, so every later line would be part of it", where=f"line {start}") from None
            policy.problem(path, f"malformed CSV: {exc}", where=f"line {start}")
            start = reader.line_num + 1
            continue
        where, start = f"line {start}", reader.line_num + 1
        if header is None:
            header = [h.strip() for h in record]
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            policy.problem(path, f"expected {len(header)} fields (as in the header), found {len(record)}", where=where)
            continue
        rows.append((where, dict(zip(header, record))))
    return header or [], rows


def check_columns(path: Path, header: list[str] | None) -> None:
    """A feed whose header lacks a required column cannot be read row by row: one error for the file."""
    if header is None:
        return
    listed = ", ".join(header) or "no columns"
    for column in REQUIRED:
        if column not in header:
            raise CurateError.at(path, f"missing column (the header has {listed})", where="line 1" if path.suffix.lower() == ".csv" else None, field=column)
    if not any(c in header for c in IMAGE_COLUMNS):
        raise CurateError.at(path, f"missing column: expected one of {', '.join(IMAGE_COLUMNS)} (the header has {listed})", where="line 1" if path.suffix.lower() == ".csv" else None, field="image")


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
        "path_field": next(c for c in IMAGE_COLUMNS if _text(row, c)),
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
    result = SourceRead(files=[str(feed)], roots=[str(feed.parent)])
    header, rows = feed_rows(feed, policy, result.decoding)
    check_columns(feed, header)
    entries = []
    for where, row in rows:
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
