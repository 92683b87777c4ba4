"""TFRecord with the TensorFlow Object Detection API's feature keys, one file per split.

TensorFlow is imported inside `write_tfrecord` only: the rest of curate never loads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from curate.dataset import Dataset, write_text_atomic
from curate.exporters.common import by_split, class_names, export_images, summary

_FORMATS = {".jpg": b"jpeg", ".jpeg": b"jpeg", ".png": b"png", ".gif": b"gif", ".bmp": b"bmp", ".webp": b"webp"}


def label_map_pbtxt(names: list[str]) -> str:
    """The OD API's label map: ids start at 1 (0 is background)."""
    return "".join(f"item {{\n  id: {i}\n  name: '{n}'\n}}\n" for i, n in enumerate(names, start=1))


def example_features(image, ids: dict[str, int]) -> dict[str, tuple[str, list]]:
    """Feature name -> (kind, values) exactly as create_tf_record scripts of the OD API write."""
    encoded = image.source_path.read_bytes()
    name = image.file_name.encode("utf-8")
    return {
        "image/height": ("int64", [image.height]),
        "image/width": ("int64", [image.width]),
        "image/filename": ("bytes", [name]),
        "image/source_id": ("bytes", [image.image_id.encode("utf-8")]),
        "image/key/sha256": ("bytes", [hashlib.sha256(encoded).hexdigest().encode("ascii")]),
        "image/encoded": ("bytes", [encoded]),
        "image/format": ("bytes", [_FORMATS.get(image.source_path.suffix.lower(), b"jpeg")]),
        "image/object/bbox/xmin": ("float", [b[0] for b in image.boxes]),
        "image/object/bbox/xmax": ("float", [b[2] for b in image.boxes]),
        "image/object/bbox/ymin": ("float", [b[1] for b in image.boxes]),
        "image/object/bbox/ymax": ("float", [b[3] for b in image.boxes]),
        "image/object/class/text": ("bytes", [label.encode("utf-8") for label in image.labels]),
        "image/object/class/label": ("int64", [ids[label] for label in image.labels]),
        "image/object/difficult": ("int64", [int(bool(e.get("difficult", 0))) for e in image.extra]),
        "image/object/truncated": ("int64", [int(bool(e.get("truncated", 0))) for e in image.extra]),
    }


def write_tfrecord(dataset: Dataset, out: str | Path, split: str | None = None) -> dict[str, int]:
    import tensorflow as tf  # edge module: only when this format is asked for

    lists = {"int64": lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v)),
             "float": lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=v)),
             "bytes": lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=v))}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = export_images(dataset, split)
    names = class_names()
    ids = {name: i for i, name in enumerate(names, start=1)}
    for split_name, group in by_split(images).items():
        tmp = out / f".{split_name}.tfrecord.part"
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for image in group:
                features = {k: lists[kind](values) for k, (kind, values) in example_features(image, ids).items()}
                writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
        tmp.replace(out / f"{split_name}.tfrecord")
    write_text_atomic(out / "label_map.pbtxt", label_map_pbtxt(names))
    return summary(images)
