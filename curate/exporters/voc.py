"""Pascal VOC as labelImg writes it: Annotations/*.xml, JPEGImages/, ImageSets/Main/<split>.txt."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from curate.dataset import Dataset, write_text_atomic
from curate.exporters.common import by_split, export_images, place_image, summary, write_label_file
from curate.geometry import xyxy_rel_to_px


def voc_xml(image, folder: str = "JPEGImages") -> str:
    """labelImg's layout; coordinates are whole pixels, as VOC readers expect."""
    objects = []
    for box, label, extra in zip(image.boxes, image.labels, image.extra):
        x1, y1, x2, y2 = (round(float(v)) for v in xyxy_rel_to_px(box, (image.width, image.height)))
        objects.append(
            "\t<object>\n"
            f"\t\t<name>{escape(label)}</name>\n"
            "\t\t<pose>Unspecified</pose>\n"
            f"\t\t<truncated>{int(bool(extra.get('truncated', 0)))}</truncated>\n"
            f"\t\t<difficult>{int(bool(extra.get('difficult', 0)))}</difficult>\n"
            "\t\t<bndbox>\n"
            f"\t\t\t<xmin>{x1}</xmin>\n\t\t\t<ymin>{y1}</ymin>\n\t\t\t<xmax>{x2}</xmax>\n\t\t\t<ymax>{y2}</ymax>\n"
            "\t\t</bndbox>\n"
            "\t</object>\n"
        )
    return (
        "<annotation>\n"
        f"\t<folder>{folder}</folder>\n"
        f"\t<filename>{escape(image.file_name)}</filename>\n"
        f"\t<path>{escape(str(image.source_path))}</path>\n"
        "\t<source>\n\t\t<database>Unknown</database>\n\t</source>\n"
        f"\t<size>\n\t\t<width>{image.width}</width>\n\t\t<height>{image.height}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
        "\t<segmented>0</segmented>\n"
        + "".join(objects)
        + "</annotation>\n"
    )


def write_voc(dataset: Dataset, out: str | Path, split: str | None = None) -> dict[str, int]:
    out = Path(out)
    images = export_images(dataset, split)
    for image in images:
        place_image(image.source_path, out / "JPEGImages" / image.file_name)
        write_label_file(out / "Annotations" / f"{Path(image.file_name).stem}.xml", voc_xml(image))
    for split_name, group in by_split(images).items():
        write_text_atomic(out / "ImageSets" / "Main" / f"{split_name}.txt", "".join(f"{Path(i.file_name).stem}\n" for i in group))
    return summary(images)
