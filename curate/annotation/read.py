"""Hand-drawn boxes as written: a box table (CSV or Parquet) or a folder of labelImg VOC XML.

A box table has one row per box: an image key (the image's source_id or its file name / stem),
`label` and `x_min, y_min, x_max, y_max` (relative 0..1 by default, pixels with units="px"). A
row whose label is a status (`none`: nothing entirely in frame; `skip`: leave the image as it
is; `excluded`: outside the taxonomy) has empty coordinates. A VOC file is one image, matched by
its <filename> (or the XML's own stem); a file with no <object> says `none`.

Readers only turn text into `BoxRow`s, keeping where each came from; checking keys, labels and
coordinates against a dataset happens in `curate.annotation.check`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset import BOX_COLUMNS
from curate.errors import CurateError, Problem
from curate.sources.common import BadItem
from curate.sources.voc import voc_entry, xml_files

KEY_COLUMNS = ("image", "source_id", "id", "file", "filename", "image_id")
UNITS = ("rel", "px")
# status label -> meaning; what a curator may write for each
STATUSES = {"none": "none", "no boxes": "none", "skip": "skip", "excluded": "excluded"}
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass
class BoxRow:
    """One box (or one status) for one image, as read, with where it came from."""

    file: str
    where: str  # "line 4" (CSV, header is line 1), "row 3" (Parquet), "object 2" (VOC)
    key: str
    label: str
    coords: tuple[float | None, ...] | None  # None for a status row without coordinates
    units: str = "rel"
    key_field: str = "image"  # the column or tag the key came from, for messages
    other_keys: tuple[str, ...] = ()  # tried when `key` matches no image (a VOC file's own stem)
    image_size: tuple[int, int] | None = None  # the size the annotation states (VOC <size>)
    bad_coords: list[tuple[str, str]] = field(default_factory=list)  # (field, text) that is no number

    @property
    def status(self) -> str | None:
        return STATUSES.get(self.label.strip().lower())


@dataclass
class ReadResult:
    rows: list[BoxRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # unreadable items (malformed XML, ...)
    files: list[str] = field(default_factory=list)


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "" if value is None else "nan"
    return str(value).strip()


def parse_coordinate(text: str) -> float | None:
    """'' -> None; a number -> float (NaN and inf included: the check rejects them by name)."""
    return None if text == "" else float(text)


def _table_frame(path: Path) -> tuple[pd.DataFrame, int | None]:
    """The table's cells (CSV as text; Parquet with null apart from NaN), and the line number of
    its first row (None: rows are numbered from 0)."""
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig"), 2
        return pd.DataFrame(pq.read_table(path).to_pylist(), dtype=object), None
    except (ValueError, OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise CurateError.at(path, f"cannot read the box table: {exc}") from None


def key_column(columns: list[str], key: str | None, path: Path) -> str:
    if key is not None:
        if key not in columns:
            raise CurateError.at(path, f"expected the key column '{key}', found columns {', '.join(columns)}", field=key)
        return key
    found = next((c for c in KEY_COLUMNS if c in columns), None)
    if found is None:
        raise CurateError.at(path, f"expected an image key column (one of {', '.join(KEY_COLUMNS)}), found columns {', '.join(columns) or 'none'}")
    return found


def read_box_table(path: str | Path, units: str = "rel", key: str | None = None) -> ReadResult:
    """A CSV or Parquet box table: one BoxRow per row, coordinates parsed but not yet checked."""
    path = Path(path)
    if units not in UNITS:
        raise CurateError(f"--units must be one of {', '.join(UNITS)}, found '{units}'")
    if not path.is_file():
        raise CurateError.at(path, "box table not found")
    frame, first_line = _table_frame(path)
    columns = [str(c) for c in frame.columns]
    column = key_column(columns, key, path)
    missing = [c for c in ("label", *BOX_COLUMNS) if c not in columns]
    if missing:
        raise CurateError.at(path, f"expected columns {column}, label, {', '.join(BOX_COLUMNS)}; missing {', '.join(missing)}")
    result = ReadResult(files=[str(path)])
    for i, record in enumerate(frame[[column, "label", *BOX_COLUMNS]].to_dict("records")):
        where = f"line {i + first_line}" if first_line else f"row {i}"
        texts = [_cell_text(record[c]) for c in BOX_COLUMNS]
        coords, bad = [], []
        for name, text in zip(BOX_COLUMNS, texts):
            try:
                coords.append(parse_coordinate(text))
            except ValueError:
                coords.append(None)
                bad.append((name, text))
        row = BoxRow(str(path), where, _cell_text(record[column]), _cell_text(record["label"]), tuple(coords), units, column, bad_coords=bad)
        if all(c is None for c in coords) and not bad:
            row.coords = None
        result.rows.append(row)
    return result


def voc_rows(xml_path: Path) -> list[BoxRow]:
    """One VOC file: a BoxRow per <object> in pixels, or a single `none` row when it has none."""
    entry = voc_entry(xml_path)
    size = (entry["width"], entry["height"]) if entry["width"] and entry["height"] else None
    base = dict(file=str(xml_path), key=entry["source_id"], units="px", key_field="filename",
                other_keys=(xml_path.stem,), image_size=size)
    if not entry["objects"]:
        return [BoxRow(where="file", label="none", coords=None, **base)]
    return [BoxRow(where=f"object {i}", label=obj["source_label"], coords=tuple(obj["box_xyxy_px"]), **base)
            for i, obj in enumerate(entry["objects"], start=1)]


def read_voc_folder(path: str | Path, files: list[Path] | None = None) -> ReadResult:
    """labelImg XML files (a folder of them, a VOC root with Annotations/, or one file)."""
    files = files if files is not None else xml_files(Path(path))
    result = ReadResult(files=[str(f) for f in files])
    for xml_path in files:
        try:
            result.rows.extend(voc_rows(xml_path))
        except BadItem as exc:
            result.problems.append(Problem(str(exc.file or xml_path), exc.where, exc.field_name, str(exc)))
    return result


def read_boxes(path: str | Path, units: str = "rel", key: str | None = None) -> ReadResult:
    """A box table (by its suffix) or a VOC folder / file."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_box_table(path, units, key)
    if path.is_dir() or path.suffix.lower() == ".xml":
        if key is not None:
            raise CurateError.at(path, "--key-column applies to box tables; VOC files are matched by their <filename>")
        return read_voc_folder(path)
    raise CurateError.at(path, f"expected a box table ({', '.join(TABLE_SUFFIXES)}) or a folder of VOC .xml files")
