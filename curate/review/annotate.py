"""Annotation through FiftyOne's annotation API, when a CVAT or Label Studio server is configured.

`request_annotations` first sends the dataset (so FiftyOne holds the rows now on disk), then
uploads the selected samples with their boxes as an annotation run; `load_annotations` merges
the run's results into the FiftyOne dataset and syncs them into the tables like any edit made in
the App (`curate review sync`: objects.parquet, changes.parquet, conflicts reported). Without a
configured server both fail in one line before touching anything; `curate boxes export` is the
way without one (labelImg).
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from curate.dataset import read_dataset
from curate.errors import CurateError
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.labels import GROUND_TRUTH, default_review_name
from curate.review.send import send_dataset
from curate.review.sync import SyncReport, sync_dataset
from curate.taxonomy import load_taxonomy

# backend -> the settings it needs: each tuple is satisfied by any one of its names
BACKENDS = {
    "cvat": (("url",), ("username", "email"), ("password",)),
    "labelstudio": (("url",), ("api_key",)),
}
SETTING_VARIABLES = {
    "cvat": "FIFTYONE_CVAT_URL, FIFTYONE_CVAT_USERNAME and FIFTYONE_CVAT_PASSWORD",
    "labelstudio": "FIFTYONE_LABELSTUDIO_URL and FIFTYONE_LABELSTUDIO_API_KEY",
}
CONNECT_TIMEOUT_S = 3.0


def backend_settings(backend: str | None = None) -> tuple[str, dict]:
    """The backend to use and its server settings, or one clear error when none is configured."""
    import_fiftyone()
    import fiftyone.core.config as foc

    config = foc.load_annotation_config()
    name = backend or config.default_backend
    if name not in BACKENDS:
        raise CurateError(f"expected an annotation backend among {', '.join(BACKENDS)}, found '{name}'")
    params = {k: v for k, v in (config.backends.get(name) or {}).items() if k != "config_cls" and v not in (None, "")}
    missing = [" or ".join(group) for group in BACKENDS[name] if not any(k in params for k in group)]
    if missing:
        raise CurateError(
            f"no {name} annotation server is configured (missing {', '.join(missing)}): set {SETTING_VARIABLES[name]}, "
            f"or backends.{name} in {foc.locate_annotation_config()}; without a server, `curate boxes export` "
            "writes a labelImg folder to annotate"
        )
    check_server(params["url"], name)
    names = {k for group in BACKENDS[name] for k in group}
    return name, {k: v for k, v in params.items() if k in names}


def check_server(url: str, backend: str) -> None:
    """Fail in one line when nothing answers at the server's address."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise CurateError(f"expected the {backend} server URL as http(s)://host[:port], found '{url}'")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise CurateError(f"cannot reach the {backend} annotation server at {url}: {exc.strerror or exc}") from None


def request_annotations(dataset_path: str | Path, image_ids: list[str], anno_key: str, *, backend: str | None = None, name: str | None = None, taxonomy=None) -> dict:
    """Upload the images (with their boxes) to the annotation backend as run `anno_key`."""
    if not image_ids:
        raise CurateError.at(dataset_path, "no images to annotate: the selection is empty")
    backend, settings = backend_settings(backend)
    sent = send_dataset(dataset_path, name=name)
    fo = import_fiftyone()
    ds = load_review_dataset(fo, sent.name)
    if anno_key in ds.list_annotation_runs():
        raise CurateError(f"FiftyOne dataset '{sent.name}' already has an annotation run '{anno_key}': bring it back with `curate boxes load`, or choose another --run")
    view = ds.select_by("image_id", list(image_ids))
    tax = taxonomy or load_taxonomy()
    view.annotate(anno_key, backend=backend, label_field=GROUND_TRUTH, label_type="detections",
                  classes=list(tax.object_types), attributes=False, launch_editor=False, **settings)
    return {"name": sent.name, "anno_key": anno_key, "backend": backend, "samples": len(view)}


def load_annotations(dataset_path: str | Path, anno_key: str, *, backend: str | None = None, name: str | None = None) -> SyncReport:
    """Merge run `anno_key` into FiftyOne, then sync the edits into the tables and change log."""
    backend, settings = backend_settings(backend)
    dataset = read_dataset(dataset_path)
    name = name or default_review_name(dataset)
    fo = import_fiftyone()
    ds = load_review_dataset(fo, name)
    if anno_key not in ds.list_annotation_runs():
        runs = ", ".join(ds.list_annotation_runs()) or "none"
        raise CurateError(f"FiftyOne dataset '{name}' has no annotation run '{anno_key}' (runs: {runs})")
    ds.load_annotations(anno_key, unexpected="ignore", **settings)
    return sync_dataset(dataset_path, name=name)


def saved_view_image_ids(dataset_path: str | Path, view: str, *, name: str | None = None) -> list[str]:
    """The image ids of a saved view of the dataset's FiftyOne mirror (patch views included)."""
    dataset = read_dataset(dataset_path)
    name = name or default_review_name(dataset)
    fo = import_fiftyone()
    ds = load_review_dataset(fo, name)
    if view not in ds.list_saved_views():
        raise CurateError(f"FiftyOne dataset '{name}' has no saved view '{view}' (saved views: {', '.join(ds.list_saved_views()) or 'none'})")
    chosen = ds.load_saved_view(view)
    if "sample_id" in chosen.get_field_schema():  # a patches view: one sample per label
        return sorted(set(ds.select(chosen.distinct("sample_id")).values("image_id")))
    return sorted(set(chosen.values("image_id")))
