"""Hand-drawn boxes: into a dataset from a box table, a VOC folder or a labelImg round trip.

    read.py       box tables (CSV, Parquet) and labelImg VOC XML -> rows as written
    check.py      rows checked against a dataset: keys, labels, coordinates -> one answer per image
    merge.py      the answers merged into the objects table, and the change log (pure)
    selection.py  which images need boxes (a filter over images.parquet)
    labelimg.py   the annotation folder for labelImg and reading back what changed in it
    workflow.py   import into a dataset (staged), export for labelImg, the build's box step

The same import serves a curator's own labelImg or FiftyOne annotations; the FiftyOne
annotation backends (CVAT, Label Studio) go through `curate.review.annotate`.
"""

from curate.annotation.check import Answer, HandBox, check_rows
from curate.annotation.labelimg import MANIFEST, export_labelimg, read_labelimg_folder
from curate.annotation.merge import apply_answers, merge_image
from curate.annotation.read import STATUSES, BoxRow, read_box_table, read_boxes, read_voc_folder
from curate.annotation.selection import select_images
from curate.annotation.workflow import boxes_from_file, describe_selection, export_for_labelimg, import_boxes

__all__ = [
    "MANIFEST", "STATUSES", "Answer", "BoxRow", "HandBox", "apply_answers", "boxes_from_file", "check_rows",
    "describe_selection", "export_for_labelimg", "export_labelimg", "import_boxes", "merge_image", "read_box_table",
    "read_boxes", "read_labelimg_folder", "read_voc_folder", "select_images",
]
