"""Near duplicates on real product photos, and the hash search at a million images.

Usage: python bench/real_dedup.py [--real-dev DIR] [--out DIR] [--hashes 1000000] [--sample 100000]

1. copies     100 photos (seeded) each copied three ways under OUT/copies (never into the
              repository): resized to 150x220 (another size and aspect), the 2 %-cropped photo
              upscaled 1.6x, and the 2 %-cropped photo squashed to 320x320; all saved as JPEG
              quality 60. `curate dedup` (its defaults) runs on the 800 originals + the 300
              copies: recall = copies grouped with their original.
2. originals  the pairs the defaults flag among the 800 originals, and the 100 candidate pairs
              nearest to being flagged (lowest colour residual), all checked by eye in
              bench/real_dev/dedup_pairs.csv (same product or not): precision of the flagged
              pairs, and how many of the nearest unflagged pairs were in fact one product.
              OUT/pairs_*.png shows them side by side for that check.
3. the hash   --hashes random 64-bit hashes with 1 % planted near copies (0-8 bits flipped):
   search     all pairs within 8 bits by multi-index hashing, timed on one core; on a
              --sample subset the same pairs as brute force.
Prints the figures and writes OUT/dedup_figures.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_catalogue import DATA, out_dir, real_dev_dir  # noqa: E402


def make_copies(dev: Path, folder: Path, n: int = 100, seed: int = 15) -> pd.DataFrame:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    ids = sorted(pd.read_csv(dev / "styles.csv")["id"])
    random.Random(seed).shuffle(ids)
    rows = []
    for image_id in ids[:n]:
        photo = Image.open(dev / "images" / f"{image_id}.jpg").convert("RGB")
        w, h = photo.size
        cropped = photo.crop((round(0.01 * w), round(0.01 * h), w - round(0.01 * w), h - round(0.01 * h)))
        for name, copy in (("resized", photo.resize((150, 220))), ("cropped", cropped.resize((round(w * 1.6), round(h * 1.6)))), ("squashed", cropped.resize((320, 320)))):
            path = folder / f"{image_id}_{name}.jpg"
            copy.save(path, quality=60)
            rows.append({"copy": str(path), "original": int(image_id), "how": name})
    return pd.DataFrame(rows)


def run_dedup(dev: Path, copies: pd.DataFrame, out: Path) -> tuple[dict, pd.DataFrame]:
    from curate.curation import operations
    from curate.curation.dedup import DedupRecipe
    from curate.dataset import images_frame, objects_frame, read_dataset, save_tables
    from curate.parallel import make_executor

    originals = sorted(pd.read_csv(dev / "styles.csv")["id"])
    rows = [{"image_id": f"o{i}", "path": str(dev / "images" / f"{i}.jpg"), "source": "real-dev", "source_id": str(i)} for i in originals]
    rows += [{"image_id": f"c{k}", "path": c, "source": "copies", "source_id": Path(c).stem} for k, c in enumerate(copies["copy"])]
    save_tables(out / "dedup_dataset", images_frame(rows), objects_frame([]))
    ds = read_dataset(out / "dedup_dataset")
    started = time.perf_counter()
    _, _, report = operations.dedup_images(ds.images, ds.objects, ds.path, make_executor("local"), DedupRecipe())
    seconds = time.perf_counter() - started
    group_of = {image: g for g, group in enumerate(report["groups"]) for image in group["images"]}
    copies = copies.assign(found=[group_of.get(f"c{k}") is not None and group_of.get(f"c{k}") == group_of.get(f"o{o}") for k, o in enumerate(copies["original"])])
    flagged = []
    for group in report["groups"]:
        members = sorted(m for m in group["images"] if m.startswith("o"))
        flagged += [(int(a[1:]), int(b[1:])) for i, a in enumerate(members) for b in members[i + 1 :]]
    figures = {
        "copies": int(len(copies)),
        "copies_found": int(copies["found"].sum()),
        "recall": round(float(copies["found"].mean()), 4),
        "recall_by_copy": copies.groupby("how")["found"].mean().round(4).to_dict(),
        "missed_copies": copies.loc[~copies["found"], "copy"].map(lambda p: Path(p).name).tolist(),
        "groups": len(report["groups"]),
        "largest_group": max((len(g["images"]) for g in report["groups"]), default=0),
        "candidate_pairs": report["candidate_pairs"],
        "confirmed_pairs": report["confirmed_pairs"],
        "cut_pairs": report["cut_pairs"],
        "flagged_original_pairs": flagged,
        "seconds_1100_images": round(seconds, 1),
    }
    return figures, copies


def nearest_original_pairs(dev: Path, n: int = 100) -> pd.DataFrame:
    """The candidate pairs among the originals, by aligned colour residual (what decides)."""
    from curate.curation.dedup import candidate_pairs, phash_hex
    from curate.curation.likeness import residual, signature
    from curate.imageio import load_image_rgb

    ids = sorted(pd.read_csv(dev / "styles.csv")["id"])
    pictures = {i: load_image_rgb(dev / "images" / f"{i}.jpg") for i in ids}
    frame = pd.DataFrame({"image_id": ids, "phash": [phash_hex(pictures[i]) for i in ids]})
    sigs = {i: signature(pictures[i]) for i in ids}
    rows = []
    for a, b in candidate_pairs(frame, 8).tolist():
        ia, ib = ids[a], ids[b]
        rows.append({"a": ia, "b": ib, "hamming": bin(int(frame.phash[a], 16) ^ int(frame.phash[b], 16)).count("1"), "residual": round(residual(sigs[ia], sigs[ib]), 2)})
    return pd.DataFrame(rows).sort_values(["residual", "a", "b"]).head(n).reset_index(drop=True)


def pair_sheets(dev: Path, pairs: pd.DataFrame, out: Path) -> list[str]:
    from PIL import Image, ImageDraw

    written = []
    tw, th = 112, 150
    for start in range(0, len(pairs), 20):
        chunk = pairs.iloc[start : start + 20]
        sheet = Image.new("RGB", (4 * (2 * tw + 10), 5 * (th + 14)), (70, 70, 70))
        draw = ImageDraw.Draw(sheet)
        for k, row in enumerate(chunk.itertuples()):
            x, y = (k % 4) * (2 * tw + 10), (k // 4) * (th + 14)
            for j, image_id in enumerate((row.a, row.b)):
                sheet.paste(Image.open(dev / "images" / f"{image_id}.jpg").convert("RGB").resize((tw, th)), (x + j * tw, y))
            draw.text((x + 2, y + th + 1), f"{row.a}/{row.b} r={row.residual}", fill=(255, 255, 0))
        path = out / f"pairs_{start // 20}.png"
        sheet.save(path)
        written.append(str(path))
    return written


def hash_search(n: int, sample: int, radius: int = 8, seed: int = 0) -> dict:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from curate.curation.hamming import chunk_count, hamming_pairs, multi_index_pairs

    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    planted = rng.permutation(n)[: 2 * (n // 100)].reshape(-1, 2)
    for a, b in planted:
        bits = rng.choice(64, int(rng.integers(0, radius + 1)), replace=False)
        hashes[b] = hashes[a] ^ np.uint64(sum(1 << int(x) for x in bits))
    started = time.perf_counter()
    pairs = multi_index_pairs(hashes, radius)
    seconds = time.perf_counter() - started
    found = {tuple(p) for p in pairs.tolist()}
    planted_found = sum((min(a, b), max(a, b)) in found for a, b in planted.tolist())
    subset = np.sort(rng.choice(n, sample, replace=False))
    started = time.perf_counter()
    brute = hamming_pairs(hashes[subset], radius)
    brute_seconds = time.perf_counter() - started
    index_pairs = multi_index_pairs(hashes[subset], radius)
    return {
        "hashes": n,
        "radius": radius,
        "chunks": chunk_count(n, radius),
        "pairs": int(len(pairs)),
        "planted_pairs": int(len(planted)),
        "planted_found": int(planted_found),
        "seconds": round(seconds, 1),
        "sample": sample,
        "sample_pairs_brute_force": int(len(brute)),
        "sample_same_as_brute_force": bool(np.array_equal(np.unique(brute, axis=0) if len(brute) else brute, index_pairs)),
        "sample_brute_force_seconds": round(brute_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-dev", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100_000)
    args = parser.parse_args()
    dev, out = real_dev_dir(args.real_dev), out_dir(args.out)
    copies = make_copies(dev, out / "copies")
    figures: dict = {}
    figures["copies"], _ = run_dedup(dev, copies, out)
    nearest = nearest_original_pairs(dev)
    figures["sheets"] = pair_sheets(dev, nearest, out)
    checked = pd.read_csv(DATA / "dedup_pairs.csv") if (DATA / "dedup_pairs.csv").is_file() else pd.DataFrame(columns=["a", "b", "same_product"])
    same = {(int(r.a), int(r.b)): r.same_product == "yes" for r in checked.itertuples()}
    flagged = [tuple(sorted(p)) for p in figures["copies"]["flagged_original_pairs"]]
    judged_flagged = [p for p in flagged if p in same]
    nearest_pairs = [tuple(sorted((int(r.a), int(r.b)))) for r in nearest.itertuples()]
    judged_nearest = [p for p in nearest_pairs if p in same]
    figures["originals"] = {
        "flagged_pairs": len(flagged),
        "flagged_checked": len(judged_flagged),
        "flagged_same_product": sum(same[p] for p in judged_flagged),
        "precision": round(sum(same[p] for p in judged_flagged) / max(1, len(judged_flagged)), 4),
        "nearest_unflagged_checked": len([p for p in judged_nearest if p not in flagged]),
        "nearest_unflagged_same_product": sorted(p for p in judged_nearest if p not in flagged and same[p]),
        "unchecked": [p for p in set(flagged) | set(nearest_pairs) if p not in same],
    }
    figures["hash_search"] = hash_search(args.hashes, args.sample)
    (out / "dedup_figures.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    c, o, h = figures["copies"], figures["originals"], figures["hash_search"]
    print(f"copies:    {c['copies_found']} of {c['copies']} copies found with their original (recall {c['recall']:.2%}; {c['recall_by_copy']}); "
          f"{c['groups']} groups, largest {c['largest_group']}; {c['candidate_pairs']} pHash candidates, {c['confirmed_pairs']} confirmed, {c['cut_pairs']} cut; {c['seconds_1100_images']} s")
    print(f"originals: {o['flagged_pairs']} pairs flagged, {o['flagged_same_product']} of {o['flagged_checked']} checked are one product (precision {o['precision']:.2%}); "
          f"of the {o['nearest_unflagged_checked']} nearest unflagged pairs, one product: {o['nearest_unflagged_same_product'] or 'none'}; unchecked {len(o['unchecked'])}")
    print(f"hashes:    {h['pairs']:,} pairs within {h['radius']} bits among {h['hashes']:,} hashes in {h['seconds']} s ({h['chunks']} chunks), "
          f"{h['planted_found']} of {h['planted_pairs']} planted found; on {h['sample']:,}: same pairs as brute force {h['sample_same_as_brute_force']} "
          f"({h['sample_pairs_brute_force']} pairs, brute force {h['sample_brute_force_seconds']} s)")


if __name__ == "__main__":
    main()
