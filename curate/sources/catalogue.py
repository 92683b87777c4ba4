"""A retailer's product feed (CSV, Parquet or JSON lines): one product image per row.

Roles: product_id, name (the title), brand, image (a path or URL), category (the retailer's
own) and description. A feed whose columns have other names maps them with `columns`
({"product_id": "id", "name": "productDisplayName", "category": "articleType"}, the text
"product_id=id,name=productDisplayName" or a YAML/JSON file of that mapping); a feed with no
image column points at its images with `images`: a template of feed columns in braces
("/photos/{id}.jpg") or a folder that holds the image column's file names.

Category, style and pattern come from the title categoriser: the title decides; when it names
no garment the retailer's category (then the description) decides, and when it names only an
object type ("... Shoe") a retailer category of that object type gives the category. Every
object keeps `label_source` (title, retailer category or description) and `label_rule` (the
rule that decided). Excluded products (bags, swimwear, ...) are dropped and counted by rule.
`max_brand_share` caps every brand's share of each category, as the source document balanced
brands so that no brand dominates a category.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from curate.errors import CurateError
from curate.recipes import read_yaml
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, read_json_lines, read_text, report_bad_item, require_file
from curate.taxonomy import Resolution

ROLES = ("product_id", "name", "brand", "image", "category", "description")
IMAGE_COLUMNS = ("image", "image_path", "image_url")
REQUIRED = ("product_id", "name")
_FIELD = re.compile(r"{([^{}]*)}")


def feed_rows(path: Path, policy: ErrorPolicy, decoding: list[dict[str, str]] | None = None) -> tuple[list[str], list[tuple[str, dict]]]:
    """(the feed's column names, [(where, row)] per product); the format follows the extension.
    JSON lines name their own fields: the columns are every key that any line has."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = [(f"line {n}", row) for n, row in read_json_lines(path, policy, decoding)]
        return list(dict.fromkeys(k for _, row in rows for k in row)), rows
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


def parse_columns(spec: Any) -> dict[str, str]:
    """role -> feed column, from a mapping, "role=column,..." text, or a .yaml/.yml/.json file."""
    if spec is None:
        return {}
    if isinstance(spec, (str, Path)) and Path(str(spec)).suffix.lower() in (".yaml", ".yml", ".json") and Path(str(spec)).is_file():
        path = Path(str(spec))
        spec = json.loads(path.read_text(encoding="utf-8")) if path.suffix.lower() == ".json" else read_yaml(path)
        if not isinstance(spec, dict):
            raise CurateError.at(path, "expected a mapping of role: feed column")
    if isinstance(spec, str):
        pairs = [p.strip() for p in spec.split(",") if p.strip()]
        bad = [p for p in pairs if p.count("=") != 1 or not all(x.strip() for x in p.split("="))]
        if bad:
            raise CurateError(f"--columns expects role=column pairs separated by commas (e.g. product_id=id,name=productDisplayName), found '{bad[0]}'")
        spec = dict(tuple(x.strip() for x in p.split("=")) for p in pairs)
    if not isinstance(spec, dict):
        raise CurateError(f"columns must map roles to feed columns, found {type(spec).__name__}")
    columns = {str(k): str(v) for k, v in spec.items()}
    unknown = sorted(set(columns) - set(ROLES))
    if unknown:
        raise CurateError(f"unknown column role(s) {', '.join(unknown)} (roles: {', '.join(ROLES)})")
    return columns


def resolve_columns(columns: dict[str, str], header: list[str], feed: Path, images: str | None) -> dict[str, str]:
    """Every role's feed column (mapped, or a column of the role's own name), checked against the header."""
    present = set(header)
    listed = ", ".join(header) or "(none)"
    missing = {role: col for role, col in columns.items() if col not in present}
    if missing:
        role, col = next(iter(missing.items()))
        raise CurateError.at(feed, f"--columns maps {role} to '{col}', but the feed has no such column (its columns: {listed})")
    resolved = dict(columns)
    for role in ROLES:
        if role not in resolved and role in present:
            resolved[role] = role
    if "image" not in resolved:
        found = next((c for c in IMAGE_COLUMNS if c in present), None)
        if found:
            resolved["image"] = found
    header_line = "line 1" if feed.suffix.lower() == ".csv" else None
    for role in REQUIRED:
        if role not in resolved:
            raise CurateError.at(feed, f"missing column (the header has {listed}); map one with --columns {role}=COLUMN", where=header_line, field=role)
    if "image" not in resolved and not images:
        raise CurateError.at(
            feed, f"no image column: expected one of {', '.join(IMAGE_COLUMNS)} (the header has {listed}); map one with --columns image=COLUMN or give --images DIR/{{column}}.jpg",
            where=header_line, field="image",
        )
    if images and _FIELD.search(images):
        unknown = [f for f in _FIELD.findall(images) if f not in present and f not in resolved]
        if unknown:
            raise CurateError(f"--images template names '{{{unknown[0]}}}', which is no column of {feed.name} (its columns: {listed})")
    return resolved


def _text(row: dict, column: str | None) -> str | None:
    """The cell as stripped text; None for absent, empty or null (CSV, JSON and Parquet alike)."""
    if column is None:
        return None
    value = row.get(column)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


def image_field(columns: dict[str, str], images: str | None) -> str:
    """The feed field an entry's image path comes from, for errors about the file."""
    return "--images" if images and _FIELD.search(images) else columns.get("image", "image")


def image_location(row: dict, columns: dict[str, str], images: str | None, base: Path) -> str:
    """The product's image: the template filled in, DIR/<image column>, or the image column itself."""
    if images and _FIELD.search(images):
        values = {}
        for field in _FIELD.findall(images):
            value = _text(row, field if field in row else columns.get(field))
            if value is None:
                raise BadItem(f"'{field}' is empty, so --images '{images}' names no file", field_name=field)
            values[field] = value
        image = _FIELD.sub(lambda m: values[m.group(1)], images)
    else:
        image = _text(row, columns.get("image"))
        if image is None:
            raise BadItem(f"no image path or URL in column '{columns.get('image', 'image')}'", field_name="image")
        if images and "://" not in image and not Path(image).is_absolute():
            image = str(Path(images) / image)
    if "://" in image or Path(image).is_absolute():
        return image
    return str(base / image)


def resolve_product(texts: list[tuple[str, str]], resolver) -> tuple[Resolution, str]:
    """The title's resolution, or the retailer category's (then the description's) where the title
    names no garment or names only the object type; (resolution, where it came from)."""
    (_, title), rest = texts[0], texts[1:]
    first = resolver.resolve(title)
    if first.status == "dropped" or (first.status == "mapped" and first.target.category):
        return first, "title"
    for source, text in rest:
        other = resolver.resolve(text)
        if first.status == "unmapped" and other.status != "unmapped":
            return other, source
        if first.status == "mapped" and other.status == "mapped" and other.target.category and other.target.object_type == first.target.object_type:
            why = f"the title names {first.target.object_type} ({first.reason}); {other.reason}" if first.reason else other.reason
            return Resolution(title, "mapped", target=other.target, reason=why), source
    return first, "title"


def catalogue_entry(row: dict, base: Path, resolver, columns: dict[str, str] | None = None, images: str | None = None) -> dict:
    columns = columns or {role: role for role in ROLES}
    image = image_location(row, columns, images, base)
    for role in REQUIRED:
        if _text(row, columns.get(role)) is None:
            raise BadItem(f"'{columns.get(role, role)}' is empty", field_name=columns.get(role, role))
    title = _text(row, columns["name"])
    retailer = _text(row, columns.get("category"))
    texts = [("title", title)] + [(s, t) for s, t in (("retailer category", retailer), ("description", _text(row, columns.get("description")))) if t]
    resolution, source = resolve_product(texts, resolver)
    obj = {"source_label": title, "resolution": resolution, "label_source": source}
    if resolution.reason:
        obj["label_rule"] = resolution.reason
    return {
        "source_id": _text(row, columns["product_id"]),
        "path": image,
        "path_field": image_field(columns, images),
        "product_id": _text(row, columns["product_id"]),
        "brand": _text(row, columns.get("brand")),
        "name": title,
        "retailer_category": retailer,
        "objects": [obj],
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


def read_catalogue(
    path: str | Path,
    *,
    policy: ErrorPolicy,
    resolver,
    max_brand_share: float | None = None,
    columns: Any = None,
    images: str | None = None,
) -> SourceRead:
    feed = require_file(Path(path), "product feed")
    if max_brand_share is not None and not 0.0 < max_brand_share <= 1.0:
        raise CurateError(f"--max-brand-share must be within (0, 1], found {max_brand_share}")
    result = SourceRead(files=[str(feed)], roots=[str(feed.parent)])
    header, rows = feed_rows(feed, policy, result.decoding)
    roles = resolve_columns(parse_columns(columns), header, feed, str(images) if images else None)
    entries = []
    for where, row in rows:
        try:
            entry = catalogue_entry(row, feed.parent, resolver, roles, str(images) if images else None)
        except BadItem as exc:
            report_bad_item(policy, feed, exc, where)
            continue
        obj = entry["objects"][0]
        resolution = obj["resolution"]
        if resolution.status == "dropped":
            result.dropped[f"products {resolution.reason}"] += 1
            continue
        entry["origin"] = (str(feed), where)
        entries.append(entry)
    result.images = cap_brand_share(entries, max_brand_share, result.dropped) if max_brand_share else entries
    return result
