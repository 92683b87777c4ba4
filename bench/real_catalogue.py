"""The catalogue path on real product photos with their retailer feed.

Usage: python bench/real_catalogue.py [--real-dev DIR] [--out DIR]

The photos are read where they lie (default <repo>/../shared/real-dev, or $CURATE_REAL_DEV) and
never copied into the repository; pictures made from them go under --out (default
<repo>/out/real_catalogue, git-ignored). The labels used to score are committed beside this
script, in bench/real_dev/ (ids and labels only):

  labels.csv             image_type (on-model / packshot) of every photo, labelled by eye
  article_types.csv      the retailer's articleType mapped onto the taxonomy
  autobox_judgement.csv  every packshot's proposed box judged by eye: tight yes/no and why

Figures (printed, and written to OUT/figures.json):
  1. import     `curate import catalogue styles.csv --columns ... --images '.../{id}.jpg'`
  2. flat-lay   agreement of flat-lay / on-model with labels.csv, every disagreement's reason
  3. auto-box   share of packshots judged tight (whole product inside, each edge within 3 % of
                the image), packshots without a proposal or a reason (must be none), and
                proposals that changed since they were judged (judged again: see --sheets)
  4. titles     categoriser against article_types.csv: category, object type and exclusions,
                on the title alone and as the import resolves them (the retailer's category
                where the title names no garment); titles per second on one core
  5. sheets     OUT/autobox_*.png (boxes with a 3 % band inside them) and OUT/flatlay_*.png
                (each photo with its answer) for a person to check
Duplicates are benched beside this one: bench/real_dedup.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "real_dev"
COLUMNS = "product_id=id,name=productDisplayName,category=articleType"
TOLERANCE = 0.03  # an edge within 3 % of the image side is tight


def real_dev_dir(override: str | None = None) -> Path:
    """The argument, else $CURATE_REAL_DEV, else <repo>/../shared/real-dev (beside the main
    checkout when this is a git worktree)."""
    candidates = [Path(override or os.environ.get("CURATE_REAL_DEV") or REPO.parent / "shared" / "real-dev")]
    if not override and not os.environ.get("CURATE_REAL_DEV") and (REPO / ".git").is_file():
        gitdir = Path((REPO / ".git").read_text().split("gitdir:", 1)[-1].strip()).resolve()
        candidates.append(gitdir.parents[2].parent / "shared" / "real-dev")  # <main checkout>/../shared
    for folder in candidates:
        if (folder / "styles.csv").is_file() and (folder / "images").is_dir():
            return folder
    raise SystemExit(f"no real-dev photos at {candidates[0]} (expected styles.csv and images/; set CURATE_REAL_DEV)")


def out_dir(override: str | None = None) -> Path:
    folder = Path(override or REPO / "out" / "real_catalogue")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def image_path(dev: Path, image_id) -> Path:
    return dev / "images" / f"{image_id}.jpg"


# ---------------------------------------------------------------------------------------------


def bench_import(dev: Path, out: Path) -> dict:
    from curate.sources import import_to_dataset

    started = time.perf_counter()
    report = import_to_dataset("catalogue", dev / "styles.csv", out / "dataset", columns=COLUMNS, images=str(dev / "images" / "{id}.jpg"))
    objects = pd.read_parquet(out / "dataset" / "objects.parquet")
    return {
        "command": f"curate import catalogue {dev / 'styles.csv'} --columns {COLUMNS} --images '{dev / 'images' / '{id}.jpg'}' --out {out / 'dataset'}",
        "seconds": round(time.perf_counter() - started, 2),
        "feed_rows": int(len(pd.read_csv(dev / "styles.csv"))),
        "images": report["images"],
        "objects": report["objects"],
        "object_types": objects["object_type"].value_counts().sort_index().to_dict(),
        "with_category": int(objects["category"].notna().sum()),
        "label_sources": report.get("label_sources", {}),
        "dropped_by_rule": report["dropped_by_rule"],
        "unmapped_labels": report["unmapped_labels"],
        "skipped": report["skipped_count"],
    }


def bench_flat_lay(dev: Path, labels: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    from curate.curation.flatlay import classify_photo
    from curate.imageio import load_image_rgb

    rows, started = [], time.perf_counter()
    for row in labels.itertuples():
        answer = classify_photo(load_image_rgb(image_path(dev, row.id)))
        rows.append({"id": row.id, "label": row.image_type, "flat_lay": answer.flat_lay, "reason": answer.reason})
    seconds = time.perf_counter() - started
    found = pd.DataFrame(rows)
    wrong = found[found["flat_lay"] != (found["label"] == "packshot")]
    reasons = found["reason"].map(lambda r: r.split(":")[0].split(" (")[0]).value_counts().sort_index()
    figures = {
        "photos": len(found),
        "agreement": round(1 - len(wrong) / len(found), 4),
        "on_model_labelled": int((found["label"] == "on-model").sum()),
        "packshots_labelled": int((found["label"] == "packshot").sum()),
        "by_reason": {str(k): int(v) for k, v in reasons.items()},
        "disagreements": [{"id": int(r.id), "label": r.label, "answer": "flat-lay" if r.flat_lay else "on-model", "reason": r.reason} for r in wrong.itertuples()],
        "ms_per_photo": round(1000 * seconds / len(found), 1),
    }
    return figures, found


def bench_autobox(dev: Path, labels: pd.DataFrame) -> tuple[dict, dict]:
    from curate.curation.autobox import propose
    from curate.imageio import load_image_rgb

    packshots = labels.loc[labels["image_type"] == "packshot", "id"].tolist()
    proposals, started = {}, time.perf_counter()
    for image_id in packshots:
        rgb = load_image_rgb(image_path(dev, image_id))
        h, w = rgb.shape[:2]
        result = propose(rgb)
        proposals[image_id] = {"boxes": [p.xyxy_rel(w, h) for p in result.boxes], "reason": result.reason, "notes": list(result.notes)}
    seconds = time.perf_counter() - started
    judged = pd.read_csv(DATA / "autobox_judgement.csv").set_index("id") if (DATA / "autobox_judgement.csv").is_file() else pd.DataFrame()
    tight = not_tight = changed = 0
    loose = []
    for image_id, found in proposals.items():
        if image_id not in judged.index or not found["boxes"]:
            changed += image_id not in judged.index
            continue
        row = judged.loc[image_id]
        same = all(abs(a - b) <= 0.0045 for a, b in zip(found["boxes"][0], (row.x_min, row.y_min, row.x_max, row.y_max)))
        if not same:
            changed += 1
        elif row.tight == "yes":
            tight += 1
        else:
            not_tight += 1
            loose.append({"id": int(image_id), "why": row.why})
    without = [i for i, f in proposals.items() if not f["boxes"] and not f["reason"]]
    figures = {
        "packshots": len(packshots),
        "with_proposal": sum(1 for f in proposals.values() if f["boxes"]),
        "without_proposal_but_with_reason": {str(i): f["reason"] for i, f in proposals.items() if not f["boxes"] and f["reason"]},
        "without_proposal_or_reason": without,
        "judged_tight": tight,
        "judged_not_tight": not_tight,
        "tight_share": round(tight / max(1, tight + not_tight), 4),
        "changed_since_judged": changed,
        "not_tight": loose,
        "reflection_or_shadow_left_out": sum(1 for f in proposals.values() if any("reflection" in n for n in f["notes"])),
        "ms_per_photo": round(1000 * seconds / max(1, len(packshots)), 1),
    }
    return figures, proposals


def score_titles(dev: Path, data: Path = DATA) -> pd.DataFrame:
    """One row per scored title and mode (the title alone; as the import resolves it, with the
    retailer's category): what the table expects and what was found, with the rule."""
    from curate.sources.catalogue import resolve_product
    from curate.sources.labels import TaxonomyTermResolver
    from curate.taxonomy import load_taxonomy

    styles = pd.read_csv(dev / "styles.csv")
    table = pd.read_csv(data / "article_types.csv", keep_default_na=False).set_index("article_type")
    resolver = TaxonomyTermResolver(load_taxonomy())
    rows = []
    for row in styles.itertuples():
        expected = table.loc[row.articleType]
        if "not scored" in expected.note:
            continue
        for mode, texts in (("title", [("title", row.productDisplayName)]), ("import", [("title", row.productDisplayName), ("retailer category", row.articleType)])):
            resolution, source = resolve_product(texts, resolver)
            target = resolution.target
            rows.append({
                "mode": mode, "id": row.id, "title": row.productDisplayName, "article_type": row.articleType,
                "exp_excluded": bool(expected.excluded), "exp_object_type": expected.object_type, "exp_category": expected.category,
                "excluded": resolution.status == "dropped",
                "object_type": target.object_type if target else "", "category": (target.category or "") if target else "", "source": source,
                "rule": resolution.reason or "",
            })
    return pd.DataFrame(rows)


def bench_titles(dev: Path) -> dict:
    from curate.taxonomy import TitleCategoriser

    styles = pd.read_csv(dev / "styles.csv")
    scored = score_titles(dev)
    figures: dict = {"titles_scored": int(scored["id"].nunique()), "titles_in_feed": int(len(styles))}
    for mode, group in scored.groupby("mode"):
        with_category = group[group["exp_category"] != ""]
        with_type = group[group["exp_object_type"] != ""]
        figures[mode] = {
            "category_accuracy": round(float((with_category["category"] == with_category["exp_category"]).mean()), 4),
            "category_rows": int(len(with_category)),
            "object_type_accuracy": round(float((with_type["object_type"] == with_type["exp_object_type"]).mean()), 4),
            "object_type_rows": int(len(with_type)),
            "exclusion_accuracy": round(float((group["excluded"] == group["exp_excluded"]).mean()), 4),
            "rows": int(len(group)),
            "category_disagreements": [
                {"id": int(r.id), "title": r.title, "retailer": r.article_type, "expected": r.exp_category, "found": r.category or None, "rule": r.rule}
                for r in with_category[with_category["category"] != with_category["exp_category"]].itertuples()
            ],
        }
    categoriser = TitleCategoriser()
    titles = list(styles["productDisplayName"]) * 250
    started = time.perf_counter()
    for title in titles:
        categoriser.categorise(title)
    figures["titles_per_second_one_core"] = round(len(titles) / (time.perf_counter() - started))
    return figures


# ---------------------------------------------------------------------------------------------
# Contact sheets for a person to check


def _sheet(items: list[tuple[Path, list, str, tuple[int, int, int]]], path: Path, cols: int = 6, scale: float = 0.8) -> None:
    """items: (photo, boxes rel xyxy, caption, caption colour); boxes in red with the 3 % band in cyan."""
    from PIL import Image, ImageDraw

    tw, th = int(225 * scale), int(300 * scale)
    rows = -(-len(items) // cols)
    sheet = Image.new("RGB", (cols * tw, rows * (th + 14)), (70, 70, 70))
    draw = ImageDraw.Draw(sheet)
    for k, (photo, boxes, caption, colour) in enumerate(items):
        x, y = (k % cols) * tw, (k // cols) * (th + 14)
        sheet.paste(Image.open(photo).convert("RGB").resize((tw, th)), (x, y))
        for x0, y0, x1, y1 in boxes:
            draw.rectangle([x + x0 * tw, y + y0 * th, x + x1 * tw - 1, y + y1 * th - 1], outline=(255, 0, 0))
            m = TOLERANCE
            if x1 - x0 > 2 * m + 0.02 and y1 - y0 > 2 * m + 0.02:
                draw.rectangle([x + (x0 + m) * tw, y + (y0 + m) * th, x + (x1 - m) * tw - 1, y + (y1 - m) * th - 1], outline=(0, 200, 255))
        draw.text((x + 3, y + th + 1), caption[:40], fill=colour)
    sheet.save(path)


def write_sheets(dev: Path, out: Path, proposals: dict, flat: pd.DataFrame) -> list[str]:
    written = []
    items = [(image_path(dev, i), p["boxes"], f"{i}" + (" R" if any("reflection" in n for n in p["notes"]) else "") + (f" {p['reason']}" if p["reason"] else ""), (255, 255, 0)) for i, p in proposals.items()]
    for k in range(0, len(items), 24):
        path = out / f"autobox_{k // 24:02d}.png"
        _sheet(items[k : k + 24], path)
        written.append(str(path))
    items = []
    for r in flat.sort_values(["label", "id"]).itertuples():
        agree = r.flat_lay == (r.label == "packshot")
        items.append((image_path(dev, r.id), [], f"{r.id} {'flat' if r.flat_lay else 'model'}{'' if agree else ' WRONG'}", (120, 255, 120) if agree else (255, 80, 80)))
    for k in range(0, len(items), 48):
        path = out / f"flatlay_{k // 48:02d}.png"
        _sheet(items[k : k + 48], path, cols=8, scale=0.5)
        written.append(str(path))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-dev", default=None, help="folder with styles.csv and images/ (default ../shared/real-dev or $CURATE_REAL_DEV)")
    parser.add_argument("--out", default=None, help="folder for the dataset, figures.json and contact sheets (default out/real_catalogue)")
    parser.add_argument("--no-sheets", action="store_true", help="skip the contact sheets")
    args = parser.parse_args()
    dev, out = real_dev_dir(args.real_dev), out_dir(args.out)
    labels = pd.read_csv(DATA / "labels.csv")
    figures = {"real_dev": str(dev)}
    figures["import"] = bench_import(dev, out)
    figures["flat_lay"], flat = bench_flat_lay(dev, labels)
    figures["autobox"], proposals = bench_autobox(dev, labels)
    figures["titles"] = bench_titles(dev)
    if not args.no_sheets:
        figures["sheets"] = write_sheets(dev, out, proposals, flat)
    (out / "proposals.json").write_text(json.dumps({str(k): v for k, v in proposals.items()}, indent=1) + "\n")
    (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    report(figures)
    print(f"figures: {out / 'figures.json'}", file=sys.stderr)


def report(f: dict) -> None:
    imp, fl, ab, ti = f["import"], f["flat_lay"], f["autobox"], f["titles"]
    print(f"import:    {imp['feed_rows']} feed rows -> {imp['images']} images, {imp['objects']} objects {imp['object_types']}; "
          f"{imp['with_category']} with a category; labels from {imp['label_sources']}; {imp['skipped']} skipped ({imp['seconds']} s)")
    print(f"flat-lay:  agreement {fl['agreement']:.2%} with {fl['photos']} labelled photos ({len(fl['disagreements'])} disagree); {fl['ms_per_photo']} ms/photo; by reason {fl['by_reason']}")
    for d in fl["disagreements"]:
        print(f"             {d['id']}: labelled {d['label']}, answered {d['answer']}: {d['reason']}")
    print(f"auto-box:  {ab['judged_tight']} of {ab['judged_tight'] + ab['judged_not_tight']} judged packshot boxes tight ({ab['tight_share']:.2%}); "
          f"{ab['with_proposal']} of {ab['packshots']} packshots with a proposal, {len(ab['without_proposal_but_with_reason'])} with a reason instead, "
          f"{len(ab['without_proposal_or_reason'])} with neither; {ab['changed_since_judged']} changed since judged; {ab['ms_per_photo']} ms/photo")
    for d in ab["not_tight"]:
        print(f"             {d['id']}: {d['why']}")
    for mode in ("title", "import"):
        t = ti[mode]
        print(f"titles ({mode:6}): category {t['category_accuracy']:.2%} of {t['category_rows']}, object type {t['object_type_accuracy']:.2%} of {t['object_type_rows']}, "
              f"exclusions {t['exclusion_accuracy']:.2%} of {t['rows']}")
    print(f"titles:    {ti['titles_per_second_one_core']:,} titles/s on one core")


if __name__ == "__main__":
    main()
