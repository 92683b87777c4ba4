"""Amazon SageMaker Ground Truth bounding-box output manifests (JSON lines).

Each line: `source-ref`, the job's label attribute {image_size, annotations [class_id, left,
top, width, height]} and `<attribute>-metadata` {objects [confidence], class-map,
human-annotated}. Boxes under `min_confidence` are dropped (0.6: the median score the source
document found, below which boxes were unusable). Shoes come in pairs, so when only one box of a
pair passes, `footwear_pairs` decides: drop the whole image, keep both boxes, or keep the box
above the threshold.
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.geometry import xywh_to_xyxy
from curate.sources.common import BadItem, ErrorPolicy, SourceRead, describe_json, expect_list, expect_number, expect_object, expect_size, find_existing, image_candidates, read_json_lines, report_bad_item, require_file

FOOTWEAR_PAIRS = ("drop-image", "keep-both", "keep-above")
DEFAULT_MIN_CONFIDENCE = 0.6


def label_attribute(line: dict) -> str:
    """The job's label attribute: the key whose `-metadata` sibling is an object-detection result."""
    for key, value in line.items():
        meta = line.get(f"{key}-metadata")
        if isinstance(value, dict) and isinstance(meta, dict) and "annotations" in value:
            return key
    raise BadItem("no bounding-box label attribute (a key with 'annotations' and a '<key>-metadata' sibling)")


def local_image_path(source_ref: str, manifest_dir: Path, images: str | Path | None = None) -> Path:
    """An s3:// reference is looked up by key, then by file name, under the `images` folder when
    one is given and under the manifest's folder (and its images/ or data/)."""
    if source_ref.startswith("s3://"):
        key = source_ref[len("s3://") :].split("/", 1)[-1]
        return find_existing(image_candidates(key, manifest_dir, images, [manifest_dir / Path(key).name, manifest_dir / "images" / Path(key).name]))
    path = Path(source_ref)
    if path.is_absolute():
        return path
    return find_existing(image_candidates(source_ref, manifest_dir, images)) if images is not None else manifest_dir / path


def sagemaker_entry(line: dict, manifest_dir: Path, images: str | Path | None = None) -> dict:
    source_ref = line.get("source-ref")
    if not isinstance(source_ref, str) or not source_ref:
        raise BadItem(f"expected the image's s3:// or local path, found {describe_json(source_ref)}", field_name="source-ref")
    attribute = label_attribute(line)
    label, meta = line[attribute], line[f"{attribute}-metadata"]
    sizes = expect_list(label.get("image_size") or [{}], field_name=f"{attribute}.image_size")
    size = expect_object(sizes[0] if sizes else {}, field_name=f"{attribute}.image_size[0]")
    class_map = expect_object(meta.get("class-map") or {}, field_name=f"{attribute}-metadata.class-map")
    class_map = {str(k): v for k, v in class_map.items()}
    confidences = expect_list(meta.get("objects") or [], field_name=f"{attribute}-metadata.objects")
    annotations = expect_list(label.get("annotations") or [], field_name=f"{attribute}.annotations")
    if len(confidences) != len(annotations):
        raise BadItem(f"{len(annotations)} annotations but {len(confidences)} confidence entries", field_name=f"{attribute}-metadata.objects")
    objects = []
    for i, (ann, conf) in enumerate(zip(annotations, confidences), start=1):
        where = f"annotation {i}"
        ann = expect_object(ann, field_name=f"{attribute}.annotations[{i - 1}]")
        conf = expect_object(conf, field_name=f"{attribute}-metadata.objects[{i - 1}]")
        name = class_map.get(str(ann.get("class_id")))
        if name is None:
            raise BadItem(f"unknown category id {ann.get('class_id')!r} (not in class-map)", where=where, field_name="class_id")
        box_xywh = [expect_number(ann.get(k), where=where, field_name=k) for k in ("left", "top", "width", "height")]
        confidence = expect_number(conf.get("confidence", 0.0), where=where, field_name="confidence")
        objects.append(
            {
                "source_label": name,
                "box_xyxy_px": xywh_to_xyxy(box_xywh).tolist(),
                "box_origin": "sagemaker",
                "box_confidence": confidence,
            }
        )
    return {
        "source_id": source_ref,
        "path": str(local_image_path(source_ref, manifest_dir, images)),
        "path_field": "source-ref",
        "width": expect_size(size.get("width"), field_name="width"),
        "height": expect_size(size.get("height"), field_name="height"),
        "human_annotated": meta.get("human-annotated") == "yes",
        "job_name": meta.get("job-name"),
        "objects": objects,
    }


def apply_confidence(entry: dict, min_confidence: float, footwear_pairs: str, is_footwear, dropped) -> dict | None:
    """Drop weak boxes; returns None when the image itself is dropped for a split pair."""
    objects = entry["objects"]
    passing = [o["box_confidence"] >= min_confidence for o in objects]
    shoes = [is_footwear(o["source_label"]) for o in objects]
    shoe_pass = {p for p, s in zip(passing, shoes) if s}
    split_pair = shoe_pass == {True, False}
    if split_pair and footwear_pairs == "drop-image":
        dropped[f"images dropped: one shoe of a pair below confidence {min_confidence:g} (--footwear-pairs drop-image)"] += 1
        return None
    kept = []
    for obj, ok, shoe in zip(objects, passing, shoes):
        if ok:
            kept.append(obj)
        elif split_pair and shoe and footwear_pairs == "keep-both":
            kept.append(obj)  # its box_confidence still shows it was under the threshold
        else:
            dropped[f"boxes below confidence {min_confidence:g}"] += 1
    return {**entry, "objects": kept}


def read_sagemaker(
    path: str | Path,
    *,
    policy: ErrorPolicy,
    resolver,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    footwear_pairs: str = "drop-image",
    images: str | Path | None = None,
) -> SourceRead:
    manifest = require_file(Path(path), "SageMaker Ground Truth manifest")
    if footwear_pairs not in FOOTWEAR_PAIRS:
        raise CurateError(f"--footwear-pairs must be one of {', '.join(FOOTWEAR_PAIRS)}, found '{footwear_pairs}'")
    if not 0.0 <= min_confidence <= 1.0:
        raise CurateError(f"--min-confidence must be within 0..1, found {min_confidence}")

    def is_footwear(label: str) -> bool:
        resolution = resolver.resolve(label)
        return resolution.status == "mapped" and resolution.target.object_type == "footwear"

    result = SourceRead(files=[str(manifest)], roots=[str(manifest.parent)])
    for number, line in read_json_lines(manifest, policy, result.decoding):
        where = f"line {number}"
        try:
            entry = sagemaker_entry(line, manifest.parent, images)
        except BadItem as exc:
            report_bad_item(policy, manifest, exc, where)
            continue
        entry["origin"] = (str(manifest), where)
        entry = apply_confidence(entry, min_confidence, footwear_pairs, is_footwear, result.dropped)
        if entry is not None:
            result.images.append(entry)
    return result
