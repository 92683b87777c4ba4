"""Imbalance reports: summary tables, before/after comparisons, JSON, Markdown and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from curate.curation.imbalance import ImbalanceReport
from curate.dataset import write_text_atomic

SUMMARY_FIELDS = ("instances", "labels", "mean_ir", "max_ir", "cvir", "scumble", "cardinality", "density", "distinct_labelsets")


def compare(before: dict[str, ImbalanceReport], after: dict[str, ImbalanceReport]) -> dict[str, dict[str, dict[str, float]]]:
    """Summary measures of each view present in both, as {view: {field: {before, after}}}."""
    out = {}
    for view in sorted(set(before) & set(after)):
        b, a = before[view].as_dict(), after[view].as_dict()
        out[view] = {f: {"before": b[f], "after": a[f]} for f in SUMMARY_FIELDS}
    return out


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def reports_to_markdown(reports: dict[str, ImbalanceReport], title: str, before: dict[str, ImbalanceReport] | None = None) -> str:
    lines = [f"# {title}", "", "| view | " + " | ".join(SUMMARY_FIELDS) + " |", "|---" * (len(SUMMARY_FIELDS) + 1) + "|"]
    for view, report in reports.items():
        d = report.as_dict()
        lines.append(f"| {view} | " + " | ".join(_fmt(d[f]) for f in SUMMARY_FIELDS) + " |")
    if before is not None:
        lines += ["", "## Before / after", "", "| view | measure | before | after |", "|---|---|---|---|"]
        for view, fields in compare(before, reports).items():
            for name, pair in fields.items():
                lines.append(f"| {view} | {name} | {_fmt(pair['before'])} | {_fmt(pair['after'])} |")
    for view, report in reports.items():
        lines += ["", f"## {view}", "", "| label | count | IR |", "|---|---|---|"]
        lines += [f"| {label} | {int(c)} | {r:.4f} |" for label, c, r in zip(report.labels, report.counts, report.ir)]
    return "\n".join(lines) + "\n"


def write_charts(reports: dict[str, ImbalanceReport], out_dir: Path) -> list[Path]:
    """One PNG per view: label counts with IR, and the co-occurrence matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for view, report in reports.items():
        fig, (bars, heat) = plt.subplots(1, 2, figsize=(14, 5 + 0.1 * len(report.labels)))
        y = np.arange(len(report.labels))
        bars.barh(y, report.counts, color="#4c72b0")
        bars.set_yticks(y, report.labels, fontsize=7)
        bars.invert_yaxis()
        bars.set_xlabel("instances")
        bars.set_title(f"{view}: MeanIR {report.mean_ir:.3f}, SCUMBLE {report.scumble:.3f}")
        for yi, (c, r) in enumerate(zip(report.counts, report.ir)):
            bars.text(c, yi, f" IR {r:.2f}", va="center", fontsize=6)
        image = heat.imshow(report.cooccurrence, cmap="viridis")
        heat.set_xticks(y, report.labels, rotation=90, fontsize=6)
        heat.set_yticks(y, report.labels, fontsize=6)
        heat.set_title("co-occurrence")
        fig.colorbar(image, ax=heat)
        fig.tight_layout()
        path = out_dir / f"imbalance-{view.replace(' ', '_').replace(':', '')}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def write_reports(reports: dict[str, ImbalanceReport], out_dir: Path, title: str = "Imbalance report", before: dict[str, ImbalanceReport] | None = None, charts: bool = True) -> dict[str, Any]:
    """imbalance.json, imbalance.md and PNG charts under out_dir; returns the JSON document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"views": {view: report.as_dict() for view, report in reports.items()}}
    if before is not None:
        document["comparison"] = compare(before, reports)
    write_text_atomic(out_dir / "imbalance.json", json.dumps(document, indent=2, allow_nan=True) + "\n")
    write_text_atomic(out_dir / "imbalance.md", reports_to_markdown(reports, title, before))
    if charts:
        write_charts(reports, out_dir)
    return document
