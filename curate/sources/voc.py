"""Pascal VOC XML as labelImg writes it: one file per image, pixel boxes, difficult, truncated.

PATH is a folder of XML files (or a VOC root with Annotations/), or one XML file. The image is
looked for in the `images` folder when one is given, beside the XML, in ../JPEGImages/, in an
images/ or data/ folder beside the XML or one level up, then at the XML's own <path>.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from curate.errors import CurateError
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, find_existing, image_candidates, read_bytes, report_bad_item


def xml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if (path / "Annotations").is_dir():
        path = path / "Annotations"
    if not path.is_dir():
        raise CurateError.at(path, "VOC annotation folder or file not found")
    files = sorted(path.glob("*.xml"))
    if not files:
        raise CurateError.at(path, "no VOC .xml annotation files here")
    return files


def _number(node: ET.Element, tag: str, where: str) -> float:
    text = node.findtext(tag)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadItem(f"expected a number, found {text!r}", where=where, field_name=tag) from None
    if not math.isfinite(value):
        raise BadItem(f"expected a finite number, found {text.strip()!r}", where=where, field_name=tag)
    return value


def _flag(node: ET.Element, tag: str) -> bool:
    return (node.findtext(tag) or "0").strip() in ("1", "true", "True")


def voc_entry(xml_path: Path, images: str | Path | None = None) -> dict:
    data = read_bytes(xml_path, "XML file")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BadItem(f"malformed XML: {exc}", where=f"line {exc.position[0]}") from None
    filename = (root.findtext("filename") or "").strip()
    if not filename:
        raise BadItem("no <filename>", field_name="filename")
    folder = xml_path.parent
    candidates = image_candidates(filename, folder, images, [folder.parent / "JPEGImages" / filename])
    recorded = (root.findtext("path") or "").strip()
    if recorded:
        candidates.append(Path(recorded))
    chosen = find_existing(candidates)
    size = root.find("size")
    width = int(_number(size, "width", "size")) if size is not None else None
    height = int(_number(size, "height", "size")) if size is not None else None
    objects = []
    for i, node in enumerate(root.findall("object"), start=1):
        where = f"object {i}"
        name = (node.findtext("name") or "").strip()
        if not name:
            raise BadItem("object without <name>", where=where, field_name="name")
        box = node.find("bndbox")
        if box is None:
            raise BadItem("object without <bndbox>", where=where, field_name="bndbox")
        objects.append(
            {
                "source_label": name,
                "box_xyxy_px": [_number(box, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax")],
                "difficult": _flag(node, "difficult"),
                "truncated": _flag(node, "truncated"),
            }
        )
    return {
        "source_id": filename,
        "path": str(chosen),
        "path_field": "path" if recorded and chosen == Path(recorded) else "filename",
        # labelImg writes 0x0 when it could not read the image; the header then decides
        "width": width or None,
        "height": height or None,
        "origin": (str(xml_path), None),
        "objects": objects,
    }


def read_voc(path: str | Path, *, policy: ErrorPolicy, images: str | Path | None = None) -> SourceRead:
    files = xml_files(Path(path))
    # images sit beside the XML, in ../JPEGImages or ../images: the VOC root is the XML folder's parent
    result = SourceRead(files=[str(f) for f in files], roots=sorted({str(f.parent.parent) for f in files}))
    for xml_path in files:
        try:
            result.images.append(voc_entry(xml_path, images))
        except BadItem as exc:
            report_bad_item(policy, xml_path, exc)
    return result
