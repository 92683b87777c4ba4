"""Import one source into a new dataset: read, check images on disk, map labels, save, report.

Every format goes through the same steps after its reader, so the same bad input gets the same
handling everywhere: duplicate image ids, file names that are not UTF-8, image paths outside the
annotation root, missing/empty/truncated image files, boxes outside the image and labels the
taxonomy does not know are each reported with file, item and field. The dataset is built in a
staging folder and becomes the dataset at --out only when everything succeeded; --out must be
new, empty or (with overwrite) an existing dataset, and never the input or a folder around it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from curate.dataset import (
    IMAGES_SCHEMA,
    check_not_input,
    check_target,
    OBJECTS_SCHEMA,
    empty_table,
    images_frame,
    is_url,
    objects_frame,
    save_tables,
    stable_id,
    staged_dataset,
    value_counts,
    write_text_atomic,
)
from curate.errors import CurateError, display
from curate.geometry import clip_xyxy, xyxy_px_to_rel
from curate.imageio import read_image_size
from curate.parallel import Executor, make_executor
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, inside_root, report_bad_item, undecodable_byte
from curate.sources.labels import TaxonomyTermResolver
from curate.sources.registry import SOURCES
from curate.taxonomy import Resolution, Taxonomy, load_mapping, load_taxonomy

REPORT_PATH = "reports/import.json"
# labelImg and most tools allow a box edge on the last pixel line; beyond that the box is wrong
BOX_TOLERANCE_PX = 1.0
_LISTED = 50


def import_to_dataset(
    source: str,
    path: str | Path | None,
    out: str | Path,
    *,
    on_error: str = "fail",
    mapping: str | Path | None = None,
    executor: Executor | None = None,
    taxonomy: Taxonomy | None = None,
    overwrite: bool = False,
    allow_outside_root: bool = False,
    **options: Any,
) -> dict:
    """Import `path` (a file or folder in the `source` format) as a new dataset at `out`.

    Returns the import report, also written to `out/reports/import.json`. `out` must not exist,
    be empty, or (with `overwrite`) hold a dataset, which is replaced only when the whole import
    succeeded; it may not be the input or lie inside or around it.
    """
    started = time.perf_counter()
    if path is not None:
        check_not_input(out, [path])
    check_target(out, overwrite=overwrite)
    tax = taxonomy or load_taxonomy()
    with staged_dataset(out, overwrite=overwrite) as stage:
        images, objects, report = read_source(
            source, path, stage, on_error=on_error, mapping=mapping, executor=executor, taxonomy=tax,
            allow_outside_root=allow_outside_root, **options
        )
        meta = {"name": Path(out).name, "sources": [report["provenance"]]}
        save_tables(stage, images, objects, meta, tax)
        report.update({"out": str(Path(out).resolve()), "seconds": round(time.perf_counter() - started, 2)})
        write_text_atomic(stage / REPORT_PATH, json.dumps(report, indent=2) + "\n")
    return report


def read_source(
    source: str,
    path: str | Path | None,
    dataset_dir: str | Path,
    *,
    on_error: str = "fail",
    mapping: str | Path | None = None,
    executor: Executor | None = None,
    taxonomy: Taxonomy | None = None,
    allow_outside_root: bool = False,
    **options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read one source into (images, objects, report) without saving anything.

    For callers that merge several sources into one dataset (`curate build`): media the
    source creates (Fashion-MNIST PNGs) are written under `dataset_dir`, which should be the
    staging directory of the dataset being built. `report["provenance"]` belongs in
    dataset.yaml's `sources` list.
    """
    if source not in SOURCES:
        raise CurateError(f"unknown source '{source}' (expected one of {', '.join(SOURCES)})")
    spec = SOURCES[source]
    if path is None and not spec.path_optional:
        raise CurateError(f"source '{source}' needs a PATH to read")
    options = checked_options(source, options)
    path = Path(path).resolve() if path is not None else None  # rows then hold absolute image paths
    tax = taxonomy or load_taxonomy()
    policy = ErrorPolicy(on_error)
    resolver = label_resolver(spec.mapping, mapping, tax)
    executor = executor or make_executor("local")
    dataset_dir = Path(dataset_dir)
    context = {
        "policy": policy,
        "dataset_dir": dataset_dir,
        "executor": executor,
        "resolver": resolver,
        # a --mapping file without label ids still reads the format's ids with the built-in list
        "label_names": getattr(resolver, "label_ids", None) or (load_mapping(spec.mapping, tax).label_ids if spec.mapping else None),
    }
    read = spec.read(path, **{name: context[name] for name in spec.needs}, **options)
    if options.get("images") and read.roots:
        read.roots.append(images_root(str(options["images"])))
    images, objects, report = read_to_tables(read, source, policy, resolver, executor, dataset_dir, tax, allow_outside_root)
    provenance = {
        "source": source,
        "path": str(path) if path else str(Path(read.files[0]).parent),
        "files": len(read.files),
        "content_sha256": files_sha256(read.files),
        "mapping": str(getattr(resolver, "path", "taxonomy terms")),
        "mapping_sha256": getattr(resolver, "sha256", None),
        "on_error": on_error,
        "options": dict(options),
        "allow_outside_root": allow_outside_root,
    }
    return images, objects, {"source": source, "path": provenance["path"], **report, "provenance": provenance}


def checked_options(source: str, options: dict[str, Any]) -> dict[str, Any]:
    """A source's options, each checked against the type its reader declares."""
    import typing

    from pydantic import TypeAdapter, ValidationError

    if source not in SOURCES:
        raise CurateError(f"unknown source '{source}' (expected one of {', '.join(SOURCES)})")
    spec = SOURCES[source]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise CurateError(f"source '{source}' takes no option(s) {', '.join(unknown)} (it takes: {', '.join(spec.options) or 'none'})")
    try:
        hints = typing.get_type_hints(spec.read)
    except (NameError, TypeError):
        hints = {}
    checked = {}
    for name, value in options.items():
        try:
            checked[name] = TypeAdapter(hints[name]).validate_python(value) if name in hints else value
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].replace("Input should be", "expected")
            raise CurateError(f"source '{source}' option {name}: {message}, found {value!r}") from None
    return checked


def files_sha256(paths: list[str]) -> str:
    """One hash of the annotation files read (a folder counts by its files' names and sizes)."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        digest.update(os.fsencode(path.name))
        if path.is_dir():
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                try:
                    size = entry.stat().st_size
                except OSError:  # a broken link or a loop: reported as a bad item by the reader
                    size = -1
                digest.update(os.fsencode(entry.name) + f":{size}".encode())
        elif path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def label_resolver(builtin: str | None, mapping_file: str | Path | None, tax: Taxonomy):
    """--mapping FILE wins; else the source's own mapping; else taxonomy terms in the label."""
    if mapping_file is not None:
        return load_mapping(Path(mapping_file), tax)
    if builtin is not None:
        return load_mapping(builtin, tax)
    return TaxonomyTermResolver(tax)


def probe_image(path: str) -> tuple[int, int] | str:
    """(width, height), or the error message (runs in executor workers)."""
    try:
        return read_image_size(path)
    except CurateError as exc:
        return str(exc)


def read_to_tables(read: SourceRead, source: str, policy: ErrorPolicy, resolver, executor: Executor, dataset_dir: Path, tax: Taxonomy, allow_outside_root: bool = False):
    """Check every read entry and map its labels; returns (images, objects, report)."""
    entries = decodable_entries(unique_entries(read.images, policy), policy)
    entries, refused = trusted_entries(entries, read.roots, policy, allow_outside_root)
    if not read.sizes_known:
        entries = with_header_sizes(entries, policy, executor, dataset_dir)

    image_rows: list[dict] = []
    object_rows: list[dict] = []
    mapped = 0
    dropped_by_rule: Counter = Counter(read.dropped)
    dropped_labels: Counter = Counter()
    unmapped: Counter = Counter()
    images_emptied = 0
    objects_read = 0
    for entry in entries:
        raw_objects = entry.pop("objects", [])
        origin = entry.pop("origin", None) or ("", None)
        objects_read += len(raw_objects)
        try:
            boxes = [relative_box(o.get("box_xyxy_px"), entry, i) for i, o in enumerate(raw_objects)]
        except BadItem as exc:
            report_bad_item(policy, origin[0], exc, origin[1])
            continue
        image_id = stable_id(source, entry["source_id"])
        kept = []
        for index, (obj, box) in enumerate(zip(raw_objects, boxes)):
            obj = dict(obj)
            obj.pop("box_xyxy_px", None)
            resolution: Resolution = obj.pop("resolution", None) or resolver.resolve(obj["source_label"])
            if resolution.status == "dropped":
                dropped_by_rule[resolution.reason] += 1
                dropped_labels[obj["source_label"]] += 1
                continue
            if resolution.status == "unmapped":
                unmapped[obj["source_label"]] += 1
                continue
            mapped += 1
            kept.append(object_row(obj, resolution, box, image_id, index, tax))
        # kept even when every object was dropped: an image of only excluded things (a bag)
        # is a true negative for the taxonomy, and the count of read images stays whole
        images_emptied += bool(raw_objects) and not kept
        image_rows.append({**entry, "image_id": image_id, "source": source})
        object_rows.extend(kept)

    # object dtype keeps None as None: pandas 3 turns None into NaN in inferred string columns
    images = images_frame(pd.DataFrame(image_rows, dtype=object)) if image_rows else empty_table(IMAGES_SCHEMA)
    objects = objects_frame(pd.DataFrame(object_rows, dtype=object)) if object_rows else empty_table(OBJECTS_SCHEMA)
    report = {
        "images": len(images),
        "objects": len(objects),
        "read": {"images": len(read.images), "objects": objects_read},
        "mapped": mapped,
        "dropped_by_rule": dict(dropped_by_rule.most_common()),
        "dropped_labels": dict(dropped_labels.most_common(_LISTED)),
        "images_without_objects_left": images_emptied,
        "unmapped_labels": dict(unmapped.most_common()),
        "skipped_count": len(policy.skipped),
        "skipped": [{"file": p.file, "where": p.where, "field": p.field, "reason": p.message} for p in policy.skipped],
        "refused_outside_root": {"count": len(refused), "roots": [display(r) for r in read.roots], "paths": refused[:_LISTED]},
        "text_decoding": read.decoding[:_LISTED],
        "splits": value_counts(images, "split") if len(images) else {},
        "categories": value_counts(objects, "category") if len(objects) else {},
        # feeds: how many labels the title decided, and how many the retailer's category
        **({"label_sources": value_counts(objects, "label_source")} if "label_source" in objects else {}),
    }
    return images, objects, report


def unique_entries(entries: list[dict], policy: ErrorPolicy) -> list[dict]:
    seen: dict[str, Any] = {}
    unique = []
    for entry in entries:
        key = entry["source_id"]
        if key in seen:
            origin = entry.get("origin") or ("", None)
            policy.problem(origin[0], f"duplicate image id '{key}' (first seen at {seen[key]})", where=origin[1], field_name="image id")
            continue
        seen[key] = " ".join(str(o) for o in (entry.get("origin") or ()) if o)
        unique.append(entry)
    return unique


def decodable_entries(entries: list[dict], policy: ErrorPolicy) -> list[dict]:
    """Leave out entries whose file name is not UTF-8: no table or report could store it."""
    kept = []
    for entry in entries:
        origin = entry.get("origin") or ("", None)
        bad = next((b for b in (undecodable_byte(str(entry.get(k) or "")) for k in ("path", "source_id")) if b is not None), None)
        if bad is None:
            kept.append(entry)
            continue
        named = origin[0] if undecodable_byte(str(origin[0])) is not None else entry["path"]
        policy.problem(named, f"file name is not valid UTF-8 (byte 0x{bad:02x}): rename the file (for example with convmv)", where=origin[1])
    return kept


def images_root(images: str) -> str:
    """The folder a given --images names: itself, or for a template (DIR/{id}.jpg) the folder
    above its first field; images found there are the user's choice, not an annotation's."""
    if "{" not in images:
        return str(Path(images).resolve())
    fixed = images.split("{", 1)[0]
    return str((Path(fixed) if fixed.endswith("/") else Path(fixed).parent).resolve())


def trusted_entries(entries: list[dict], roots: list[str], policy: ErrorPolicy, allow_outside_root: bool) -> tuple[list[dict], list[str]]:
    """Refuse local image paths outside the reader's roots (an annotation naming /etc/passwd or
    ../../x); returns the entries kept and the paths refused."""
    kept, refused = [], []
    for entry in entries:
        field_name = entry.pop("path_field", None) or "path"
        path = entry["path"]
        if not roots or allow_outside_root or is_url(path) or inside_root(path, roots):
            kept.append(entry)
            continue
        shown = os.path.normpath(os.path.abspath(path))
        refused.append(display(shown))
        origin = entry.get("origin") or ("", None)
        policy.problem(origin[0], f"{display(shown)} lies outside the annotation root {display(roots[0])}; --allow-outside-root imports it", where=origin[1], field_name=field_name)
    return kept, refused


def with_header_sizes(entries: list[dict], policy: ErrorPolicy, executor: Executor, dataset_dir: Path) -> list[dict]:
    """Read every local image's size from its header (in parallel); bad images are problems."""
    local = [e for e in entries if not is_url(e["path"])]
    paths = [str(dataset_dir / e["path"]) for e in local]  # absolute paths stay absolute
    sizes = dict(zip(map(id, local), executor.map(probe_image, paths, "reading image sizes", chunksize=256)))
    checked = []
    for entry in entries:
        size = sizes.get(id(entry))
        origin = entry.get("origin") or ("", None)
        if isinstance(size, str):
            policy.problem(origin[0], size, where=origin[1], field_name="image")
            continue
        if size is not None:
            stated = (entry.get("width"), entry.get("height"))
            if stated != (None, None) and tuple(stated) != tuple(size):
                policy.problem(origin[0], f"annotation gives size {stated[0]}x{stated[1]} but the image file is {size[0]}x{size[1]}", where=origin[1], field_name="size")
                continue
            entry["width"], entry["height"] = size
        checked.append(entry)
    return checked


def relative_box(box_xyxy_px, entry: dict, index: int) -> tuple[float, float, float, float] | None:
    """A pixel box (x1, y1, x2, y2) as relative 0..1 coordinates, checked against the image."""
    if box_xyxy_px is None:
        return None
    width, height = entry.get("width"), entry.get("height")
    x1, y1, x2, y2 = (float(v) for v in box_xyxy_px)
    label, field_name = f"object {index + 1}", "bounding box"
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise BadItem(f"{label}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has a coordinate that is not a finite number", field_name=field_name)
    if not width or not height:
        raise BadItem(f"{label}: box given but the image size is unknown", field_name=field_name)
    if x2 <= x1 or y2 <= y1:
        raise BadItem(f"{label}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has zero or negative width or height", field_name=field_name)
    tol = BOX_TOLERANCE_PX
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise BadItem(f"{label}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the {width}x{height} image", field_name=field_name)
    return tuple(float(v) for v in xyxy_px_to_rel(clip_xyxy((x1, y1, x2, y2), (width, height)), (width, height)))  # type: ignore[return-value]


def object_row(obj: dict, resolution: Resolution, box, image_id: str, index: int, tax: Taxonomy) -> dict:
    """One objects-table row: the mapping's target, plus styles/patterns the source suggested."""
    target = resolution.target
    style = target.style or _first_allowed(obj.pop("style_candidates", ()), lambda s: tax.allows_style(target.category, s))
    pattern = target.pattern or _first_allowed(obj.pop("pattern_candidates", ()), lambda p: p in tax.patterns)
    attributes = sorted(set(target.attributes) | set(obj.pop("attributes", ())))
    row = {
        "object_id": stable_id(image_id, index),
        "image_id": image_id,
        "object_type": target.object_type,
        "category": target.category,
        "style": style,
        "pattern": pattern,
        "attributes": attributes,
        "box_origin": "source" if box is not None else None,
        **obj,
    }
    if box is not None:
        row["x_min"], row["y_min"], row["x_max"], row["y_max"] = box
    return row


def _first_allowed(candidates, allowed) -> str | None:
    return next((c for c in candidates if allowed(c)), None)
