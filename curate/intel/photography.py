"""Photography QA: how each category is photographed compared with the rest of the catalogue.

Per category: the share of flat-lay vs on-model images, of multi-item images, the spread of
resolution and aspect ratio, and how uniform the background is; then the categories whose
photography differs most from the catalogue norm. A category that is mostly shot flat while the
catalogue is mostly on-model (or on busy backgrounds, or at odd sizes) stands out.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from curate.curation.background import measure_background
from curate.curation.flatlay import REDUCED_SIDE
from curate.dataset import Dataset, write_text_atomic
from curate.errors import CurateError
from curate.imageio import load_image_reduced
from curate.progress import track

# The per-category measures compared with the catalogue to find unusual photography.
DEVIATION_MEASURES = ("flat_lay_share", "multi_item_share", "log_aspect", "log_megapixels", "background_uniformity")


def image_photography(dataset: Dataset) -> pd.DataFrame:
    """One row per image: flat_lay, object and category counts, size, aspect, and background
    uniformity (the share of the border ring matching its median colour, as flat-lay detection
    measures it: near 1 on a seamless studio background, low in a scene)."""
    images, objects = dataset.images, dataset.objects
    if images.empty:
        raise CurateError.at(dataset.path, "the dataset has no images: nothing to report")
    per_image = objects.groupby("image_id").agg(objects=("object_id", "size"), categories=("category", "nunique"))
    frame = images[["image_id", "path", "width", "height", "flat_lay"]].merge(per_image, left_on="image_id", right_index=True, how="left")
    frame["objects"] = frame["objects"].fillna(0).astype(int)
    frame["categories"] = frame["categories"].fillna(0).astype(int)
    uniformity = []
    for path in track(frame["path"], "background", total=len(frame)):
        uniformity.append(measure_background(load_image_reduced(dataset.image_path(path), REDUCED_SIDE)[0]).border_match)
    frame["background_uniformity"] = uniformity
    frame["aspect"] = frame["width"] / frame["height"]
    frame["megapixels"] = frame["width"] * frame["height"] / 1e6
    return frame


def _share(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")


def category_photography(per_image: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """Per category (over the images showing it) the photography measures, plus `deviation`:
    the root-mean-square z-score of the measures against the whole catalogue."""
    pairs = objects.dropna(subset=["category"])[["image_id", "category"]].drop_duplicates()
    joined = pairs.merge(per_image, on="image_id", how="inner")
    rows = []
    for category, group in joined.groupby("category", sort=True):
        rows.append({"category": category, **_measures(group)})
    table = pd.DataFrame(rows)
    if table.empty:
        raise CurateError("no labelled objects with a category: nothing to report per category")
    norm = _measures(per_image)
    spread = _measure_spread(per_image)
    z = pd.DataFrame({m: (table[m] - norm[m]) / spread[m] for m in DEVIATION_MEASURES}).fillna(0.0)
    table["deviation"] = np.sqrt((z**2).mean(axis=1))
    worst = z.abs().to_numpy().argmax(axis=1)
    table["most_different"] = [f"{DEVIATION_MEASURES[j]} ({z.iloc[i, j]:+.2f} z)" for i, j in enumerate(worst)]
    return table


def _measures(group: pd.DataFrame) -> dict[str, float]:
    flat = group["flat_lay"]
    known = flat.dropna().astype(bool)
    return {
        "images": int(len(group)),
        "flat_lay": int(known.sum()),
        "on_model": int((~known).sum()),
        "flat_lay_unknown": int(flat.isna().sum()),
        "flat_lay_share": _share(known),
        "multi_item": int((group["objects"] > 1).sum()),
        "multi_item_share": _share(group["objects"] > 1),
        "width_median": float(group["width"].median()),
        "height_median": float(group["height"].median()),
        "megapixels_p10": float(group["megapixels"].quantile(0.1)),
        "megapixels_p90": float(group["megapixels"].quantile(0.9)),
        "aspect_median": float(group["aspect"].median()),
        "aspect_p10": float(group["aspect"].quantile(0.1)),
        "aspect_p90": float(group["aspect"].quantile(0.9)),
        "log_aspect": float(np.log(group["aspect"]).mean()),
        "log_megapixels": float(np.log(group["megapixels"]).mean()),
        "background_uniformity": float(group["background_uniformity"].mean()),
    }


def _measure_spread(per_image: pd.DataFrame) -> dict[str, float]:
    """Image-level standard deviation of each measure (floored so a constant one cannot divide by 0)."""
    known = per_image["flat_lay"].dropna().astype(float)
    values = {
        "flat_lay_share": known.std(ddof=0) if len(known) else 0.0,
        "multi_item_share": (per_image["objects"] > 1).astype(float).std(ddof=0),
        "log_aspect": np.log(per_image["aspect"]).std(ddof=0),
        "log_megapixels": np.log(per_image["megapixels"]).std(ddof=0),
        "background_uniformity": per_image["background_uniformity"].std(ddof=0),
    }
    return {k: max(float(v), 0.05) for k, v in values.items()}


def _save_figure(fig, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def photography_charts(table: pd.DataFrame, per_image: pd.DataFrame, objects: pd.DataFrame, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    cats = table["category"].tolist()
    y = np.arange(len(cats))
    height = max(3.0, 0.35 * len(cats) + 1.2)

    fig, axes = plt.subplots(1, 3, figsize=(14, height), sharey=True)
    n = table["images"].to_numpy()
    left = np.zeros(len(cats))
    for column, colour, label in (("flat_lay", "#4c72b0", "flat-lay"), ("on_model", "#dd8452", "on-model"), ("flat_lay_unknown", "#bbbbbb", "unknown")):
        share = table[column].to_numpy() / n
        axes[0].barh(y, share, left=left, color=colour, label=label)
        left += share
    axes[0].set_title("flat-lay vs on-model")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[1].barh(y, table["multi_item_share"], color="#55a868")
    axes[1].set_title("multi-item images")
    axes[2].barh(y, table["background_uniformity"], color="#8172b3")
    axes[2].set_title("background uniformity")
    for ax in axes:
        ax.set_xlim(0, 1)
    axes[0].set_yticks(y, cats)
    axes[0].invert_yaxis()
    fig.suptitle("Photography per category (share of images)")
    written.append(out_dir / "photography_composition.png")
    _save_figure(fig, written[-1])
    plt.close(fig)

    pairs = objects.dropna(subset=["category"])[["image_id", "category"]].drop_duplicates().merge(per_image, on="image_id")
    fig, axes = plt.subplots(1, 2, figsize=(12, height), sharey=True)
    groups = [pairs.loc[pairs["category"] == c] for c in cats]
    axes[0].boxplot([g["aspect"] for g in groups], orientation="horizontal", tick_labels=cats, showfliers=False)
    axes[0].set_title("aspect ratio (width / height)")
    axes[1].boxplot([g["megapixels"] for g in groups], orientation="horizontal", showfliers=False)
    axes[1].set_title("resolution (megapixels)")
    axes[0].invert_yaxis()
    written.append(out_dir / "photography_geometry.png")
    _save_figure(fig, written[-1])
    plt.close(fig)

    ranked = table.sort_values("deviation", ascending=False)
    fig, ax = plt.subplots(figsize=(8, height))
    ax.barh(np.arange(len(ranked)), ranked["deviation"], color="#c44e52")
    ax.set_yticks(np.arange(len(ranked)), ranked["category"])
    ax.invert_yaxis()
    ax.set_title("difference from the catalogue norm (RMS z-score)")
    written.append(out_dir / "photography_deviation.png")
    _save_figure(fig, written[-1])
    plt.close(fig)
    return written


def photography_markdown(table: pd.DataFrame, norm: dict[str, float], charts: list[Path], top: int = 5) -> str:
    lines = [
        "# Photography report",
        "",
        f"Catalogue: {norm['images']} images; flat-lay {norm['flat_lay']}, on-model {norm['on_model']}, "
        f"unknown {norm['flat_lay_unknown']}; multi-item {norm['multi_item']} ({norm['multi_item_share']:.0%}); "
        f"median size {norm['width_median']:.0f} x {norm['height_median']:.0f}; "
        f"background uniformity {norm['background_uniformity']:.2f}.",
        "",
        "## Categories that differ most from the catalogue norm",
        "",
        "| category | deviation | most different measure |",
        "|---|---|---|",
    ]
    for row in table.sort_values("deviation", ascending=False).head(top).itertuples():
        lines.append(f"| {row.category} | {row.deviation:.2f} | {row.most_different} |")
    lines += [
        "",
        "## Per category",
        "",
        "| category | images | flat-lay | on-model | unknown | multi-item | median size | aspect p10-p90 | megapixels p10-p90 | background |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.category} | {r.images} | {r.flat_lay} ({_pct(r.flat_lay, r.images)}) | {r.on_model} ({_pct(r.on_model, r.images)}) "
            f"| {r.flat_lay_unknown} | {r.multi_item} ({r.multi_item_share:.0%}) | {r.width_median:.0f} x {r.height_median:.0f} "
            f"| {r.aspect_p10:.2f}-{r.aspect_p90:.2f} | {r.megapixels_p10:.2f}-{r.megapixels_p90:.2f} | {r.background_uniformity:.2f} |"
        )
    lines += ["", *[f"![{p.stem}]({p.name})" for p in charts], ""]
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def photography_report(dataset: Dataset, out_dir: Path | None = None) -> dict:
    """Write reports/photography.{md,json} and PNG charts; return the report as a dict."""
    out_dir = Path(out_dir) if out_dir is not None else dataset.reports_dir
    per_image = image_photography(dataset)
    table = category_photography(per_image, dataset.objects)
    norm = _measures(per_image)
    charts = photography_charts(table, per_image, dataset.objects, out_dir)
    write_text_atomic(out_dir / "photography.md", photography_markdown(table, norm, charts))
    report = {
        "catalogue": norm,
        "categories": json.loads(table.to_json(orient="records")),
        "most_different": table.sort_values("deviation", ascending=False)["category"].tolist(),
        "charts": [p.name for p in charts],
    }
    write_text_atomic(out_dir / "photography.json", json.dumps(report, indent=2))
    return report
