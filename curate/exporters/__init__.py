"""Output formats: `write_<format>(dataset, out, split=None)`, registered in `EXPORTERS`.

Detection formats (coco, voc, yolo, tfrecord) carry boxed objects, labelled with the category
or, where an object has none, its object type; class ids follow the taxonomy's order. csv
carries every object, whole-image labels included.
"""

from __future__ import annotations

from curate.exporters.coco import write_coco
from curate.exporters.table_csv import write_csv
from curate.exporters.tfrecord import write_tfrecord
from curate.exporters.voc import write_voc
from curate.exporters.yolo import write_yolo

EXPORTERS = {
    "coco": write_coco,
    "voc": write_voc,
    "yolo": write_yolo,
    "tfrecord": write_tfrecord,
    "csv": write_csv,
}
