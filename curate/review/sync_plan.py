"""The sync plan: what a sync would change, worked out without FiftyOne or the disk.

Three things are compared per object: the row on disk, the row as it was sent (its hash on the
sample), and the label as FiftyOne holds it now (`FiftyOneState`, read from a view). A label
that differs from what was sent is a curator's edit: applied, unless the row also changed on
disk since it was sent, which is a conflict that leaves the whole sample alone on both sides.
A sent object no label carries any more was deleted. The plan holds the new objects table, the
change log rows, the counts, the conflicts and the images to send back.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, CHANGES_SCHEMA, format_value, object_json, stable_id
from curate.errors import CurateError, Problem
from curate.geometry import xywh_to_xyxy
from curate.review.labels import ACCEPT, ATTRIBUTES, CATEGORY, CURATOR_SOURCE_LABEL, GROUND_TRUTH, MIRRORED, REJECT, as_python, object_row_hashes


@dataclass
class FiftyOneState:
    """What FiftyOne holds now: label rows in table form, plus what each sample was sent with."""

    labels: pd.DataFrame  # MIRRORED columns + label_id, kind (detection|whole), tags, sample_id
    sent: dict[str, dict[str, tuple[str, str]]]  # image_id -> {object_id: (row hash, content hash) as sent}
    sample_ids: dict[str, str]  # image_id -> FiftyOne sample id
    sample_tags: dict[str, list[str]]


_DET_FIELDS = ["id", "object_id", "label", "bounding_box", "category", "pattern", "style", "other_attributes",
               "source_label", "box_origin", "box_confidence", "review_status", "tags"]
_CAT_FIELDS = ["id", "object_id", "label", "object_type", "pattern", "style", "other_attributes",
               "source_label", "box_origin", "box_confidence", "review_status", "tags"]


def read_fiftyone_state(view) -> FiftyOneState:
    """What a FiftyOne view (a dataset or a selection of samples) holds, in table form."""
    paths = ["id", "image_id", "tags", "curate_objects"]
    paths += [f"{GROUND_TRUTH}.detections.{f}" for f in _DET_FIELDS]
    paths += [f"{CATEGORY}.{f}" for f in _CAT_FIELDS]
    paths += [f"{ATTRIBUTES}.classifications.label", f"{ATTRIBUTES}.classifications.object_id"]
    values = view.values(paths)
    n_sample = 4
    sample_ids, image_ids, tags, sent_lists = values[:n_sample]
    det = dict(zip(_DET_FIELDS, values[n_sample:n_sample + len(_DET_FIELDS)]))
    cat = dict(zip(_CAT_FIELDS, values[n_sample + len(_DET_FIELDS):n_sample + len(_DET_FIELDS) + len(_CAT_FIELDS)]))
    attr_labels, attr_owners = values[-2:]
    records = []
    for i, image_id in enumerate(image_ids):
        for j, label_id in enumerate(det["id"][i] or []):
            get = {k: (det[k][i][j] if det[k][i] is not None else None) for k in _DET_FIELDS}
            box = xywh_to_xyxy(get["bounding_box"] or [np.nan] * 4)
            records.append({
                "label_id": label_id, "kind": "detection", "sample_id": sample_ids[i], "image_id": image_id,
                "object_id": get["object_id"], **dict(zip(BOX_COLUMNS, box.tolist())),
                "object_type": get["label"], "category": get["category"], "pattern": get["pattern"],
                "style": get["style"], "attributes": list(get["other_attributes"] or []),
                "source_label": get["source_label"], "box_origin": get["box_origin"],
                "box_confidence": get["box_confidence"], "review_status": get["review_status"],
                "tags": list(get["tags"] or []),
            })
        if cat["id"][i] is not None:
            object_id = cat["object_id"][i]
            entries = [lab for lab, owner in zip(attr_labels[i] or [], attr_owners[i] or []) if owner in (object_id, None)]
            pattern = [e.split(":", 1)[1] for e in entries if e.startswith("pattern:")]
            style = [e.split(":", 1)[1] for e in entries if e.startswith("style:")]
            others = [e for e in entries if not e.startswith(("pattern:", "style:"))]
            # a second pattern or style stays visible as an extra entry, which the taxonomy view flags
            others = [f"pattern:{p}" for p in pattern[1:]] + [f"style:{s}" for s in style[1:]] + others
            records.append({
                "label_id": cat["id"][i], "kind": "whole", "sample_id": sample_ids[i], "image_id": image_id,
                "object_id": object_id, "x_min": np.nan, "y_min": np.nan, "x_max": np.nan, "y_max": np.nan,
                "object_type": cat["object_type"][i], "category": cat["label"][i],
                "pattern": pattern[0] if pattern else None, "style": style[0] if style else None,
                "attributes": others, "source_label": cat["source_label"][i], "box_origin": cat["box_origin"][i],
                "box_confidence": cat["box_confidence"][i], "review_status": cat["review_status"][i],
                "tags": list(cat["tags"][i] or []),
            })
    columns = ["label_id", "kind", "sample_id", *MIRRORED, "tags"]
    labels = pd.DataFrame(records, columns=columns)
    sent = {
        image_id: {oid: (full, content) for oid, full, content in (pair.rsplit(":", 2) for pair in (pairs or []))}
        for image_id, pairs in zip(image_ids, sent_lists)
    }
    return FiftyOneState(labels, sent, dict(zip(image_ids, sample_ids)), dict(zip(image_ids, [list(t or []) for t in tags])))


def edited_images(state: FiftyOneState, objects: pd.DataFrame) -> list[str]:
    """Images whose FiftyOne labels differ from what was sent (curator edits not yet synced)."""
    desired = desired_rows(state, objects)
    return sorted(set(desired.loc[desired["touched"], "image_id"]) | set(deleted_rows(state)["image_id"]))


def desired_rows(state: FiftyOneState, objects: pd.DataFrame, tax=None) -> pd.DataFrame:
    """Each FiftyOne label as the object row it asks for, with `touched` = differs from what was sent.

    The review status follows the curator: a `reject` tag (on the label or its sample) wins, then
    any change of content (edited), then an `accept` tag, else the status the label carries.
    """
    labels = state.labels.copy()
    new = labels["object_id"].isna()
    labels.loc[new, "object_id"] = [stable_id(i, "fiftyone", lid) for i, lid in zip(labels.loc[new, "image_id"], labels.loc[new, "label_id"])]
    labels["new"] = new & ~labels["object_id"].isin(objects["object_id"])
    labels.loc[new & labels["kind"].eq("detection") & labels["box_origin"].isna(), "box_origin"] = "manual"
    labels.loc[new & labels["source_label"].isna(), "source_label"] = CURATOR_SOURCE_LABEL
    sent = [state.sent.get(i, {}).get(o, (None, None)) for i, o in zip(labels["image_id"], labels["object_id"])]
    labels["sent_hash"] = pd.Series([s[0] for s in sent], index=labels.index, dtype=object)
    sent_content = pd.Series([s[1] for s in sent], index=labels.index, dtype=object)
    if tax is not None and len(labels):
        # a curator who changes only the category expects the object type to follow it
        disk = objects.set_index("object_id")
        before_category = labels["object_id"].map(disk["category"])
        before_type = labels["object_id"].map(disk["object_type"])
        follows = (
            labels["category"].isin(list(tax.categories))
            & (labels["category"] != before_category)
            & (labels["object_type"].isna() | (labels["object_type"] == before_type) | before_type.isna())
        )
        labels.loc[follows, "object_type"] = labels.loc[follows, "category"].map(tax.object_type_of)
    edited = labels["new"] | (object_row_hashes(labels, with_status=False) != sent_content)
    tags = labels["tags"].map(set)
    sample_tags = labels["image_id"].map(lambda i: set(state.sample_tags.get(i, [])))
    reject = tags.map(lambda t: REJECT in t) | sample_tags.map(lambda t: REJECT in t)
    accept = tags.map(lambda t: ACCEPT in t) | sample_tags.map(lambda t: ACCEPT in t)
    status = labels["review_status"].where(labels["review_status"].notna(), "unreviewed").astype(object)
    status[accept] = "accepted"
    status[edited] = "edited"
    status[reject] = "rejected"
    labels["review_status"] = status
    labels["row_hash"] = object_row_hashes(labels)
    labels["touched"] = labels["row_hash"] != labels["sent_hash"]
    return labels


def deleted_rows(state: FiftyOneState) -> pd.DataFrame:
    """Objects sent to a sample that no label of that sample carries any more."""
    present = set(state.labels["object_id"].dropna())
    rows = [(image_id, oid, h) for image_id, pairs in state.sent.items() for oid, (h, _) in pairs.items() if oid not in present]
    return pd.DataFrame(rows, columns=["image_id", "object_id", "sent_hash"])


def row_json(row: pd.Series | dict) -> str:
    return object_json(row, [c for c in MIRRORED if c not in ("object_id", "image_id")])


def check_boxes(labels: pd.DataFrame, name: str) -> None:
    boxes = labels.loc[labels["kind"] == "detection", ["image_id", "object_id", "label_id", *BOX_COLUMNS]]
    problems = []
    for row in boxes.itertuples(index=False):
        coords = np.array([row.x_min, row.y_min, row.x_max, row.y_max], dtype=np.float64)
        if np.isnan(coords).any():
            message = "expected [x, y, width, height]"
        elif not (row.x_min < row.x_max and row.y_min < row.y_max):
            message = f"expected x1 < x2 and y1 < y2, found x1={row.x_min:.4g} x2={row.x_max:.4g} y1={row.y_min:.4g} y2={row.y_max:.4g}"
        elif coords.min() < 0 or coords.max() > 1:
            message = f"coordinates must lie within 0..1, found {np.round(coords, 4).tolist()}"
        else:
            continue
        problems.append(Problem(f"FiftyOne dataset '{name}'", f"image {row.image_id} label {row.label_id} (object_id={row.object_id})", f"{GROUND_TRUTH}.bounding_box", message))
    if problems:
        raise CurateError.from_problems(problems)


CONFLICT_MESSAGE = (
    "changed on disk since it was sent to FiftyOne and edited there too (label {label}); "
    "left as is on both sides: resolve it, then re-run `curate review` and `curate review sync`"
)


@dataclass
class SyncPlan:
    """What a sync changes; `objects` is None when nothing does."""

    objects: pd.DataFrame | None
    changes: list[dict] = field(default_factory=list)  # changes.parquet rows
    applied: dict[str, int] = field(default_factory=dict)  # edited/created/deleted/accepted/rejected
    conflicts: list[Problem] = field(default_factory=list)
    stale: int = 0  # rows changed on disk since sent, not edited in FiftyOne
    touched_images: list[str] = field(default_factory=list)  # samples to send back

    def change_log(self) -> pd.DataFrame:
        return pd.DataFrame(self.changes, columns=list(CHANGES_SCHEMA.names))


def plan_sync(state: FiftyOneState, disk_objects: pd.DataFrame, tax, name: str, objects_file: str, now: pd.Timestamp | None = None) -> SyncPlan:
    """The three-way diff of FiftyOne's labels, the rows as sent and `disk_objects` (the objects
    table on disk). `name` (the FiftyOne dataset) and `objects_file` only word the messages.

    Raises CurateError, before anything is planned, when an edited box is invalid."""
    objects = as_python(disk_objects)
    check_boxes(state.labels, name)

    desired = desired_rows(state, objects, tax)
    disk_hash = pd.Series(object_row_hashes(objects).to_numpy(), index=objects["object_id"].to_numpy())
    desired["disk_hash"] = desired["object_id"].map(disk_hash)
    deleted = deleted_rows(state)
    deleted["disk_hash"] = deleted["object_id"].map(disk_hash)
    deleted = deleted[deleted["disk_hash"].notna()]  # already gone on disk: nothing to delete

    touched = desired[desired["touched"]]
    moved_on_disk = touched["sent_hash"].notna() & (touched["disk_hash"] != touched["sent_hash"])
    conflict_rows = pd.concat([
        touched.loc[moved_on_disk, ["image_id", "object_id", "label_id"]],
        deleted.loc[deleted["disk_hash"] != deleted["sent_hash"], ["image_id", "object_id"]].assign(label_id="(deleted)"),
    ])
    conflicts = [
        Problem(objects_file, f"image {r.image_id} object {r.object_id}", None, CONFLICT_MESSAGE.format(label=r.label_id))
        for r in conflict_rows.itertuples(index=False)
    ]
    blocked = set(conflict_rows["image_id"])
    stale = int(((desired["disk_hash"] != desired["sent_hash"]) & desired["sent_hash"].notna() & ~desired["touched"]).sum())

    apply = touched[~touched["image_id"].isin(blocked)]
    apply = apply[apply["disk_hash"] != apply["row_hash"]]  # an earlier sync may already hold it
    removed = deleted[~deleted["image_id"].isin(blocked)]
    now = now if now is not None else pd.Timestamp(_dt.datetime.now(_dt.timezone.utc))
    changes: list[dict] = []
    updated = objects.set_index("object_id", drop=False)
    counts = {"edited": 0, "created": 0, "deleted": 0, "accepted": 0, "rejected": 0}
    for row in apply.itertuples(index=False):
        row = row._asdict()
        if row["object_id"] not in updated.index:
            changes.append({"object_id": row["object_id"], "image_id": row["image_id"], "field": "object", "before": None, "after": row_json(row), "when": now})
            new_row = {c: row[c] for c in MIRRORED}
            updated = pd.concat([updated, pd.DataFrame([new_row]).set_index(pd.Index([row["object_id"]]))])
            counts["created"] += 1
            continue
        before = updated.loc[row["object_id"]]
        for col in MIRRORED:
            old, new = format_value(before[col]), format_value(row[col])
            if old != new:
                changes.append({"object_id": row["object_id"], "image_id": row["image_id"], "field": col, "before": old, "after": new, "when": now})
                updated.at[row["object_id"], col] = list(row[col]) if col == "attributes" else row[col]
        status = row["review_status"]
        counts[{"accepted": "accepted", "rejected": "rejected"}.get(status, "edited")] += 1
    for row in removed.itertuples(index=False):
        changes.append({"object_id": row.object_id, "image_id": row.image_id, "field": "object", "before": row_json(updated.loc[row.object_id]), "after": None, "when": now})
        counts["deleted"] += 1
    updated = updated.drop(index=list(removed["object_id"]))
    plan = SyncPlan(None, changes, {k: v for k, v in counts.items() if v}, conflicts, stale)
    if changes:
        plan.objects = updated.reset_index(drop=True).astype(disk_objects.dtypes.to_dict())
        plan.touched_images = sorted(set(apply["image_id"]) | set(removed["image_id"]))
    return plan
