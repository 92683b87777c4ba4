"""The labelImg round trip: a folder to annotate, and what a curator changed in it.

    OUT/
      JPEGImages/<image>        the images (hard links where possible)
      Annotations/<stem>.xml    labelImg's Pascal VOC, prefilled with the boxes the image has
      classes.txt               labelImg's predefined classes: object types, then categories
      curate-annotation.json    the manifest: each file's image_id, the XML as written and the
                                image's objects at export time

Open it with `labelImg OUT/JPEGImages OUT/classes.txt OUT/Annotations`. On the way back only
the XML files that differ from the export are read (an untouched file says nothing); a file
whose image changed in the dataset since the export is a conflict and is left out. A saved file
with no boxes (labelImg's "verify image" on an empty picture) says `none`. After an import the
manifest records the files and objects as imported, so the folder can be edited and imported
again: only what changed since is read.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from curate.annotation.merge import LOGGED
from curate.annotation.read import ReadResult, read_voc_folder
from curate.dataset import Dataset, format_value, write_text_atomic
from curate.errors import CurateError, Problem
from curate.exporters.common import class_names, export_images, place_image
from curate.exporters.voc import voc_xml
from curate.sources.voc import xml_files

IMAGES_DIR = "JPEGImages"
ANNOTATIONS_DIR = "Annotations"
CLASSES_FILE = "classes.txt"
MANIFEST = "curate-annotation.json"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def objects_digest(objects: pd.DataFrame) -> str:
    """One hash of an image's object rows (what an export was prefilled from)."""
    digest = hashlib.sha256()
    for row in objects.sort_values("object_id").to_dict("records"):
        digest.update(json.dumps([row["object_id"], *(format_value(row[c]) for c in LOGGED)]).encode())
    return digest.hexdigest()


def _digests(objects: pd.DataFrame, image_ids: list[str]) -> dict[str, str]:
    groups = {k: g for k, g in objects[objects["image_id"].isin(image_ids)].groupby("image_id")}
    empty = objects.iloc[:0]
    return {i: objects_digest(groups.get(i, empty)) for i in image_ids}


def export_labelimg(dataset: Dataset, image_ids: list[str], out: str | Path, taxonomy, selection: str = "") -> dict:
    """Write the annotation folder for these images; the folder appears whole or not at all."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CurateError.at(out, "expected a new or empty folder for the annotation export, found one with files (import it, or choose another --out)")
    if not image_ids:
        raise CurateError.at(dataset.path, f"no images to annotate: the selection ({selection or 'all images'}) is empty")
    chosen = Dataset(dataset.path, dataset.images[dataset.images["image_id"].isin(image_ids)], dataset.objects, dataset.meta)
    images = export_images(chosen, None)
    digests = _digests(dataset.objects, [i.image_id for i in images])
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        entries = {}
        for image in images:
            if Path(image.file_name).stem in entries:  # a.jpg and a.png: one XML name each
                image = replace(image, file_name=f"{image.image_id}_{image.file_name}")
            target = stage / IMAGES_DIR / image.file_name
            place_image(image.source_path, target)
            xml_path = stage / ANNOTATIONS_DIR / f"{Path(image.file_name).stem}.xml"
            xml_path.parent.mkdir(parents=True, exist_ok=True)
            xml_path.write_text(voc_xml(replace(image, source_path=out.resolve() / IMAGES_DIR / image.file_name), folder=IMAGES_DIR), encoding="utf-8")
            entries[xml_path.stem] = {"image_id": image.image_id, "file": image.file_name, "boxes": len(image.boxes),
                                      "xml_sha256": file_sha256(xml_path), "objects_sha256": digests[image.image_id]}
        (stage / CLASSES_FILE).write_text("".join(f"{name}\n" for name in class_names(taxonomy)), encoding="utf-8")
        manifest = {"dataset": str(dataset.path.resolve()), "dataset_name": dataset.meta.get("name", dataset.path.name),
                    "exported_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                    "selection": selection, "images": entries}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        stage.chmod(0o755)
        if out.exists():
            out.rmdir()
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {"out": str(out), "images": len(images), "boxes": sum(len(i.boxes) for i in images),
            "open_with": f"labelImg {out / IMAGES_DIR} {out / CLASSES_FILE} {out / ANNOTATIONS_DIR}"}


def is_labelimg_folder(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def read_labelimg_folder(folder: str | Path, dataset: Dataset) -> tuple[ReadResult, dict]:
    """The rows of the XML files a curator changed, keyed by image_id; the conflicts and counts."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = manifest["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CurateError.at(folder / MANIFEST, f"expected the manifest an export wrote, found unreadable content ({exc})") from None
    files = xml_files(folder / ANNOTATIONS_DIR) if (folder / ANNOTATIONS_DIR).is_dir() else []
    known = [entries[f.stem]["image_id"] for f in files if f.stem in entries]
    now = _digests(dataset.objects, known)
    changed, conflicts, unchanged = [], [], 0
    for xml_path in files:
        entry = entries.get(xml_path.stem)
        if entry is not None and file_sha256(xml_path) == entry["xml_sha256"]:
            unchanged += 1
            continue
        if entry is not None and now[entry["image_id"]] != entry["objects_sha256"]:
            conflicts.append(Problem(str(xml_path), None, None, f"image {entry['image_id']} changed in the dataset since the export and in this file too; left as is on both sides (export it again to annotate it)"))
            continue
        changed.append(xml_path)
    read = read_voc_folder(folder, changed)
    for row in read.rows:
        entry = entries.get(Path(row.file).stem)
        if entry is not None:
            row.key, row.other_keys = entry["image_id"], ()
    missing = sorted(set(entries) - {f.stem for f in files})
    return read, {"files": len(files), "unchanged_files": unchanged, "changed_files": len(changed),
                  "missing_files": missing, "conflicts": conflicts, "read_files": [str(f) for f in changed]}


def record_import(folder: str | Path, files: list[str], objects: pd.DataFrame, left_out: set[str]) -> None:
    """Remember the imported files and their images' objects as the folder's new baseline.

    `left_out` holds the image ids that were not imported (bad rows skipped): they keep the old
    baseline, so they are read again next time."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    entries = manifest["images"]
    imported = [Path(f) for f in files if Path(f).stem in entries and entries[Path(f).stem]["image_id"] not in left_out]
    digests = _digests(objects, [entries[f.stem]["image_id"] for f in imported])
    for xml_path in imported:
        entry = entries[xml_path.stem]
        entry["xml_sha256"], entry["objects_sha256"] = file_sha256(xml_path), digests[entry["image_id"]]
    manifest["imported_at"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
