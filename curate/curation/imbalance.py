"""Imbalance measures for multi-label data (Charte et al. 2014), vectorised over a label matrix.

A label matrix is an (instances x labels) boolean array. IR of a label is the count of the most
frequent label divided by its own count; MeanIR and MaxIR summarise them, CVIR is their
coefficient of variation, and SCUMBLE measures how much rare labels co-occur with frequent ones
(0 when every instance carries labels of equal IR, towards 1 when rare and frequent labels are
always mixed). The reports (JSON, Markdown, PNG charts) are written by `imbalance_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ImbalanceReport:
    """Every measure for one label matrix; `as_dict` is what JSON and Markdown reports hold."""

    labels: list[str]
    counts: np.ndarray
    ir: np.ndarray
    mean_ir: float
    max_ir: float
    cvir: float
    scumble: float
    cardinality: float
    density: float
    distinct_labelsets: int
    instances: int
    cooccurrence: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "labels": len(self.labels),
            "mean_ir": self.mean_ir,
            "max_ir": self.max_ir,
            "cvir": self.cvir,
            "scumble": self.scumble,
            "cardinality": self.cardinality,
            "density": self.density,
            "distinct_labelsets": self.distinct_labelsets,
            "per_label": {
                label: {"count": int(c), "ir": float(r)} for label, c, r in zip(self.labels, self.counts, self.ir)
            },
            "cooccurrence": {
                "labels": list(self.labels),
                "matrix": self.cooccurrence.astype(int).tolist(),
            },
        }


def active_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(instance, label) index pairs of the True cells, in instance order.

    Label matrices are sparse (a few labels per instance), so every measure below works on
    these pairs: one pass over the matrix, then work proportional to the labels actually set.
    """
    y = np.ascontiguousarray(labels, dtype=bool)
    return np.divmod(np.flatnonzero(y), max(1, y.shape[1]))


def ir_per_label(counts: np.ndarray) -> np.ndarray:
    """IR of each label (max count / count); labels that never occur get NaN."""
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ir = counts.max(initial=0.0) / counts
    ir[counts <= 0] = np.nan
    return ir


def mean_ir(counts: np.ndarray) -> float:
    ir = ir_per_label(counts)
    return float(np.nanmean(ir)) if np.isfinite(ir).any() else float("nan")


def cvir(counts: np.ndarray) -> float:
    """Coefficient of variation of IR: sample standard deviation of IR over MeanIR."""
    ir = ir_per_label(counts)
    ir = ir[np.isfinite(ir)]
    if len(ir) < 2:
        return 0.0
    return float(np.std(ir, ddof=1) / ir.mean())


def scumble_from_pairs(rows: np.ndarray, cols: np.ndarray, ir: np.ndarray, n_instances: int) -> float:
    """Mean over instances of 1 - (geometric mean IR / arithmetic mean IR) of their labels.

    Per-instance sums are weighted bincounts over the (instance, label) pairs. Instances with
    fewer than two labels contribute exactly 0 and are skipped; unlabelled instances still count
    in the mean.
    """
    if n_instances == 0 or len(rows) == 0:
        return 0.0
    with np.errstate(divide="ignore"):
        log_ir = np.log(ir)  # per label, then gathered: cheaper than a log per (instance, label)
    n_active = np.bincount(rows, minlength=n_instances)
    multi = n_active > 1
    arithmetic = np.bincount(rows, weights=ir[cols], minlength=n_instances)[multi] / n_active[multi]
    geometric = np.exp(np.bincount(rows, weights=log_ir[cols], minlength=n_instances)[multi] / n_active[multi])
    # Float error must not leave 0..1.
    return float(np.clip(1.0 - geometric / arithmetic, 0.0, 1.0).sum() / n_instances)


def scumble(labels: np.ndarray) -> float:
    """SCUMBLE (Charte et al. 2014) of a boolean (instances x labels) matrix."""
    y = np.asarray(labels, dtype=bool)
    rows, cols = active_labels(y)
    ir = ir_per_label(np.bincount(cols, minlength=y.shape[1]))
    return scumble_from_pairs(rows, cols, ir, len(y))


def distinct_labelsets(labels: np.ndarray) -> int:
    packed = np.packbits(np.asarray(labels, dtype=bool), axis=1)
    return int(pd.DataFrame(packed).drop_duplicates().shape[0]) if len(packed) else 0


def cooccurrence(rows: np.ndarray, cols: np.ndarray, n_instances: int, n_labels: int) -> np.ndarray:
    """Label x label counts of instances carrying both (the diagonal is each label's count)."""
    from scipy.sparse import csr_matrix

    y = csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(n_instances, n_labels))
    return (y.T @ y).toarray()


def imbalance_report(labels: np.ndarray, names: list[str]) -> ImbalanceReport:
    """Every measure for a boolean (instances x labels) matrix with the given label names."""
    y = np.asarray(labels, dtype=bool)
    rows, cols = active_labels(y)
    counts = np.bincount(cols, minlength=y.shape[1])
    ir = ir_per_label(counts)
    finite = ir[np.isfinite(ir)]
    cardinality = float(len(rows) / len(y)) if len(y) else 0.0
    return ImbalanceReport(
        labels=list(names),
        counts=counts,
        ir=ir,
        mean_ir=float(finite.mean()) if len(finite) else float("nan"),
        max_ir=float(finite.max()) if len(finite) else float("nan"),
        cvir=cvir(counts),
        scumble=scumble_from_pairs(rows, cols, ir, len(y)),
        cardinality=cardinality,
        density=cardinality / y.shape[1] if y.shape[1] else 0.0,
        distinct_labelsets=distinct_labelsets(y),
        instances=int(len(y)),
        cooccurrence=cooccurrence(rows, cols, len(y), y.shape[1]),
    )


# ---------------------------------------------------------------------------------------------
# Label matrices from the dataset tables


def labels_to_matrix(instance_ids: pd.Series, labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A boolean matrix from (instance, label) pairs; rows follow sorted instance ids."""
    pairs = pd.DataFrame({"instance": instance_ids.astype(str).to_numpy(), "label": labels.astype(str).to_numpy()})
    inst_codes, _ = pd.factorize(pairs["instance"], sort=True)
    label_codes, names = pd.factorize(pairs["label"], sort=True)
    n_inst = int(inst_codes.max()) + 1 if len(inst_codes) else 0
    y = np.zeros((n_inst, len(names)), dtype=bool)
    y[inst_codes, label_codes] = True
    return y, [str(n) for n in names]


def attribute_table(objects: pd.DataFrame) -> pd.DataFrame:
    """(object_id, key, value) rows for every "key:value" entry of the `attributes` lists."""
    exploded = objects[["object_id", "attributes"]].explode("attributes").dropna()
    parts = exploded["attributes"].astype(str).str.extract(r"^([^:]*):?(.*)$")
    return pd.DataFrame({"object_id": exploded["object_id"].to_numpy(), "key": parts[0].to_numpy(), "value": parts[1].to_numpy()})


def attribute_pairs(objects: pd.DataFrame, key: str) -> pd.DataFrame:
    """(object_id, value) pairs for one attribute key; pattern and style are columns, the rest live in `attributes`."""
    if key in ("pattern", "style", "category", "object_type"):
        part = objects[["object_id", key]].dropna()
        return pd.DataFrame({"object_id": part["object_id"], "value": part[key]})
    table = attribute_table(objects)
    return table.loc[table["key"] == key, ["object_id", "value"]]


def attribute_keys(objects: pd.DataFrame) -> list[str]:
    return sorted(set(attribute_table(objects)["key"]))


def dataset_reports(images: pd.DataFrame, objects: pd.DataFrame, split: str | None = None) -> dict[str, ImbalanceReport]:
    """Reports per view of the dataset.

    `object_type` and `category` treat each image as an instance carrying the labels of its
    objects (the detection view, where co-occurrence matters); `object_type x image_type` adds
    flat-lay/on-model; each attribute key treats each object as an instance.
    """
    if split is not None:
        keep = images.loc[images["split"] == split, "image_id"]
        objects = objects[objects["image_id"].isin(keep)]
        images = images[images["image_id"].isin(keep)]
    reports: dict[str, ImbalanceReport] = {}
    for column in ("object_type", "category"):
        part = objects[["image_id", column]].dropna()
        if len(part):
            reports[column] = imbalance_report(*labels_to_matrix(part["image_id"], part[column]))
    image_type = images.set_index("image_id")["flat_lay"].map({True: "flat-lay", False: "on-model"})
    typed = objects[["image_id", "object_type"]].dropna().copy()
    typed["label"] = typed["object_type"] + " x " + typed["image_id"].map(image_type).fillna("unknown").to_numpy()
    if len(typed):
        reports["object_type x image_type"] = imbalance_report(*labels_to_matrix(typed["image_id"], typed["label"]))
    for key in ["pattern", "style"] + attribute_keys(objects):
        pairs = attribute_pairs(objects, key)
        if len(pairs):
            reports[f"attribute {key}"] = imbalance_report(*labels_to_matrix(pairs["object_id"], pairs["value"]))
    return reports
