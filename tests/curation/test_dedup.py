import json
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.main import app
from curate.curation.dedup import DedupRecipe, dedup_tables, hamming_pairs, phash_hex
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables
from curate.demo.synthetic import draw_on_canvas
from curate.taxonomy.rules import several_values


def test_phash_is_stable_under_recompression_and_resizing_but_not_across_products(fmnist_items):
    rng = np.random.default_rng(0)
    (a, _), (b, _) = fmnist_items("upper-body", 2)
    first, _ = draw_on_canvas(a, rng)
    other, _ = draw_on_canvas(b, rng)
    ok, jpeg = cv2.imencode(".jpg", first, [cv2.IMWRITE_JPEG_QUALITY, 70])
    recompressed = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    resized = cv2.resize(first, (180, 180), interpolation=cv2.INTER_AREA)

    def distance(x, y):
        return bin(int(phash_hex(x), 16) ^ int(phash_hex(y), 16)).count("1")

    assert distance(first, recompressed) <= 4
    assert distance(first, resized) <= 4
    assert distance(first, other) > 10


def test_hamming_pairs_matches_brute_force():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, size=300, dtype=np.uint64)
    hashes[50] = hashes[7] ^ np.uint64(0b101)
    found = {tuple(p) for p in hamming_pairs(hashes, 10, block=64).tolist()}
    brute = {(i, j) for i in range(300) for j in range(i + 1, 300) if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= 10}
    assert found == brute and (7, 50) in found


@pytest.fixture
def dataset_with_duplicates(tmp_path, fmnist_items, write_rgb):
    """img0..img5 distinct products; img6 = exact copy of img0; img7 = recompressed img1."""
    root = tmp_path
    rng = np.random.default_rng(2)
    splits = ["train", "train", "test", "val", "gold", "train", "test", "gold"]
    images, objects = [], []
    pictures = [draw_on_canvas(item, rng)[0] for item, _ in fmnist_items(None, 6, offset=100)]
    for n in range(8):
        path = root / "src" / f"{n}.png"
        if n == 6:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "src" / "0.png", path)
        elif n == 7:
            path = root / "src" / "7.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(pictures[1], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        else:
            write_rgb(path, pictures[n])
        images.append({"image_id": f"img{n}", "path": str(path), "source": "shop", "source_id": str(n), "split": splits[n]})
        objects.append({"object_id": f"o{n}", "image_id": f"img{n}", "object_type": "upper-body", "category": "shirts", "pattern": "striped", "attributes": ["pattern:floral"] if n == 3 else ["sleeve style:long sleeve"], "source_label": "shirt"})
    save_tables(root / "ds", images_frame(images), objects_frame(objects))
    return root / "ds"


def test_dedup_command_finds_exact_and_near_duplicates_leakage_and_drops(dataset_with_duplicates):
    ds = dataset_with_duplicates
    result = CliRunner().invoke(app, ["dedup", str(ds), "--policy", "keep-one", "--executor", "serial"])
    assert result.exit_code == 0, result.output
    report = json.loads((ds / "reports" / "dedup.json").read_text())
    assert report["exact_groups"] == 1 and report["near_groups"] == 1
    groups = sorted(sorted(g["images"]) for g in report["groups"])
    assert groups == [["img0", "img6"], ["img1", "img7"]]
    leaks = {leak["image_id"]: leak for leak in report["leakage"]}
    assert set(leaks) == {"img6", "img7"}
    assert leaks["img6"]["train_duplicates"] == ["img0"] and leaks["img6"]["kind"] == "exact"
    assert leaks["img7"]["split"] == "gold" and leaks["img7"]["kind"] == "near"
    # keep-one keeps the evaluation copy: the training twins go
    assert report["dropped_images"] == ["img0", "img1"]
    after = read_dataset(ds)
    assert set(after.images["image_id"]) == {"img2", "img3", "img4", "img5", "img6", "img7"}
    assert after.images["sha256"].notna().all() and after.images["phash"].str.len().eq(16).all()
    # img3 has pattern striped in the column and floral in its attributes: dropped by default
    assert "o3" not in set(after.objects["object_id"])
    assert report["multi_label_objects"]["objects"] == ["o3"]
    assert "leak" in result.output


def test_policies_report_and_drop_leaks_and_flagging():
    images = images_frame([
        {"image_id": f"i{n}", "path": f"/x/{n}", "source": "s", "source_id": str(n), "split": s, "sha256": h, "phash": p}
        for n, (s, h, p) in enumerate([("train", "aa", "00ff00ff00ff00ff"), ("train", "aa", "00ff00ff00ff00ff"), ("val", "bb", "ffff0000ffff0000"), ("train", "cc", "ffff0000ffff0001")])
    ])
    objects = objects_frame([{"object_id": f"o{n}", "image_id": f"i{n}", "source_label": "x", "style": "polo", "attributes": ["style:muscle"] if n == 0 else []} for n in range(4)])
    marked, _, report = dedup_tables(images, objects, DedupRecipe(policy="report"))
    assert report["dropped_images"] == [] and report["groups_within_one_split"] == 1 and report["groups_across_splits"] == 1
    # the columns the review loop turns into "near-duplicates" and "leakage" views
    groups = marked.set_index("image_id")["duplicate_group"]
    assert groups["i0"] == groups["i1"] and groups["i2"] == groups["i3"] and groups["i0"] != groups["i2"]
    assert marked.set_index("image_id")["leakage"].to_dict() == {"i0": False, "i1": False, "i2": True, "i3": True}
    kept, _, report = dedup_tables(images, objects, DedupRecipe(policy="drop-leaks"))
    assert report["dropped_images"] == ["i3"]  # the within-train pair is not leakage
    _, flagged, _ = dedup_tables(images, objects, DedupRecipe(policy="report", multi_label_objects="flag"))
    flags = flagged.set_index("object_id")["flags"]
    assert flags["o0"] == "more than one pattern or style" and flags.notna().tolist() == [True, False, False, False]
    assert several_values(objects).tolist() == [True, False, False, False]
