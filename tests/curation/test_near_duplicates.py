"""Near duplicates a curator can trust: same-pose variants in two colours are not duplicates,
copies of one picture are; groups never chain and are capped; the default near policy drops only
training copies of evaluation images; the hash search is exact and sub-quadratic."""

import cv2
import numpy as np
import pytest

from curate.curation import operations
from curate.curation.dedup import DedupRecipe, dedup_tables, phash_hex, signature_file
from curate.curation.hamming import chunk_count, hamming_pairs, multi_index_pairs, pairs_within
from curate.curation.likeness import residual, signature
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables
from curate.parallel import SerialExecutor


def _shoe(colour, size_wh=(225, 300)):
    """One product shape in one colour on white: the same pose for every colour, as catalogues shoot."""
    w, h = size_wh
    rgb = np.full((h, w, 3), 255, np.uint8)
    pts = np.array([[0.1, 0.62], [0.35, 0.5], [0.55, 0.42], [0.8, 0.45], [0.92, 0.6], [0.9, 0.7], [0.12, 0.72]]) * (w, h)
    cv2.fillPoly(rgb, [pts.astype(np.int32)], colour)
    cv2.rectangle(rgb, (int(0.12 * w), int(0.7 * h)), (int(0.9 * w), int(0.74 * h)), (235, 235, 235), -1)
    cv2.polylines(rgb, [pts.astype(np.int32)], True, (30, 30, 30), 2)
    for k in range(5):  # laces
        x = int((0.45 + 0.06 * k) * w)
        cv2.line(rgb, (x, int(0.45 * h)), (x + 8, int(0.52 * h)), (250, 250, 250), 2)
    return rgb


def _copies(rgb):
    """A copy resized to another aspect, one re-encoded at JPEG quality 60, one cropped by 2%."""
    h, w = rgb.shape[:2]
    stretched = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 60])
    jpeg = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    k = round(0.01 * w), round(0.01 * h)
    cropped = cv2.resize(rgb[k[1] : h - k[1], k[0] : w - k[0]], (w * 3 // 2, h * 3 // 2), interpolation=cv2.INTER_LINEAR)
    return [stretched, jpeg, cropped]


def test_same_pose_variants_in_two_colours_collide_in_the_hash_but_not_in_colour():
    red, blue = _shoe((200, 30, 40)), _shoe((40, 60, 190))
    bits = bin(int(phash_hex(red), 16) ^ int(phash_hex(blue), 16)).count("1")
    assert bits <= 8  # the grey hash calls them near duplicates ...
    assert residual(signature(red), signature(blue)) > 30  # ... their pixels do not
    for copy in _copies(red):
        assert residual(signature(red), signature(copy)) < 5


def _table(pictures, splits, tmp_path):
    rows = []
    for n, (rgb, split) in enumerate(zip(pictures, splits)):
        path = tmp_path / f"{n}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        rows.append({"image_id": f"i{n}", "path": str(path), "source": "shop", "source_id": str(n), "split": split})
    objects = [{"object_id": f"o{n}", "image_id": f"i{n}", "object_type": "footwear", "category": "trainers", "source_label": "shoe"} for n in range(len(pictures))]
    save_tables(tmp_path / "ds", images_frame(rows), objects_frame(objects))
    return read_dataset(tmp_path / "ds")


def test_dedup_confirms_on_pixels_and_drops_only_leaking_copies(tmp_path):
    red, blue, green = _shoe((200, 30, 40)), _shoe((40, 60, 190)), _shoe((40, 160, 60))
    stretched, jpeg, cropped = _copies(red)
    ds = _table([red, blue, green, stretched, jpeg, cropped], ["test", "train", "train", "train", "train", "val"], tmp_path)
    images, objects, report = operations.dedup_images(ds.images, ds.objects, ds.path, SerialExecutor(), DedupRecipe())
    assert report["confirmed_on"] == "pixels" and report["candidate_pairs"] > report["confirmed_pairs"]
    assert report["near_policy"] == "drop-leaks"
    groups = [sorted(g["images"]) for g in report["groups"]]
    assert groups == [["i0", "i3", "i4", "i5"]]  # the red photo and its copies; blue and green stay apart
    group = report["groups"][0]
    assert group["representative"] == "i0" and all(e["residual"] <= 7 for e in group["evidence"].values())
    # the training copies of the test image go; the val copy stays (not train); distinct products stay
    assert report["dropped_images"] == ["i3", "i4"]
    assert set(images["image_id"]) == {"i0", "i1", "i2", "i5"}


def test_near_duplicates_within_train_are_reported_not_dropped(tmp_path):
    red = _shoe((200, 30, 40))
    ds = _table([red, *_copies(red)], ["train"] * 4, tmp_path)
    _, _, report = operations.dedup_images(ds.images, ds.objects, ds.path, SerialExecutor(), DedupRecipe())
    assert report["near_groups"] == 1 and report["dropped_images"] == []
    # keep-one for near duplicates only when asked for
    _, _, report = operations.dedup_images(ds.images, ds.objects, ds.path, SerialExecutor(), DedupRecipe(near_policy="keep-one"))
    assert report["dropped_images"] == ["i1", "i2", "i3"]


def _signatures(pictures):
    return {f"i{n}": signature_file_bytes(rgb) for n, rgb in enumerate(pictures)}


def signature_file_bytes(rgb):
    from curate.curation.likeness import signature_to_bytes

    return signature_to_bytes(signature(rgb))


def test_groups_are_stars_that_never_chain_and_are_capped():
    base = _shoe((150, 150, 150))
    # each picture a few levels lighter than the one before: neighbours alike, the ends not
    steps = [np.clip(base.astype(np.int16) + 5 * k * (base < 250), 0, 255).astype(np.uint8) for k in range(4)]
    assert residual(signature(steps[0]), signature(steps[1])) <= 7 < residual(signature(steps[0]), signature(steps[2]))
    phash = phash_hex(base)
    images = images_frame([{"image_id": f"i{n}", "path": f"/x/{n}", "source": "s", "source_id": str(n), "split": "train", "sha256": f"h{n}", "phash": phash} for n in range(4)])
    objects = objects_frame([])
    _, _, report = dedup_tables(images, objects, DedupRecipe(), _signatures(steps))
    for group in report["groups"]:  # every member is like the representative itself
        rep = int(group["representative"][1:])
        for member in group["images"]:
            assert residual(signature(steps[rep]), signature(steps[int(member[1:])])) <= 7
    # i1 is like i0 and like i2, but i0 and i2 differ: two groups, not one chain
    assert sorted(sorted(g["images"]) for g in report["groups"]) == [["i0", "i1"], ["i2", "i3"]]
    assert any({c["image_id"], c.get("other")} == {"i1", "i2"} and "do not chain" in c["why"] for c in report["cut"])
    # three copies of one picture and a group of at most two: the third is cut and reported
    same = [base] * 3
    _, _, capped = dedup_tables(images.iloc[:3], objects, DedupRecipe(max_group=2), _signatures(same))
    assert [len(g["images"]) for g in capped["groups"]] == [2] and any("group full" in c["why"] for c in capped["cut"])


def test_without_pixels_the_hash_decides_and_the_report_says_so():
    images = images_frame([{"image_id": f"i{n}", "path": f"/x/{n}", "source": "s", "source_id": str(n), "split": "train", "sha256": f"h{n}", "phash": "00ff00ff00ff00ff"} for n in range(2)])
    _, _, report = dedup_tables(images, objects_frame([]), DedupRecipe())
    assert report["confirmed_on"] == "pHash only (no pixels)" and report["near_groups"] == 1


def test_signature_task_reports_unreadable_files(tmp_path):
    assert "error" in signature_file(str(tmp_path / "missing.jpg")) and signature_file(str(tmp_path / "missing.jpg"))["error"]


@pytest.mark.parametrize("n,radius,chunks", [(3000, 8, 3), (3000, 7, 4), (3000, 3, 4), (2000, 10, None)])
def test_multi_index_hashing_finds_exactly_the_brute_force_pairs(n, radius, chunks):
    rng = np.random.default_rng(n + radius)
    hashes = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    for a, b in rng.integers(0, n, size=(n // 20, 2)):  # planted near pairs
        bits = rng.choice(64, int(rng.integers(0, radius + 1)), replace=False)
        hashes[b] = hashes[a] ^ np.uint64(sum(1 << int(x) for x in bits))
    brute = {tuple(p) for p in hamming_pairs(hashes, radius).tolist()}
    found = {tuple(p) for p in multi_index_pairs(hashes, radius, chunks).tolist()}
    assert found == brute and len(found) >= n // 40
    assert {tuple(p) for p in pairs_within(hashes, radius).tolist()} == brute


def test_chunk_count_grows_with_the_number_of_hashes():
    assert chunk_count(1_000_000, 8) == 3 and chunk_count(100_000, 7) == 4


def test_wide_radii_stay_allowed_and_fall_back_to_brute_force(monkeypatch):
    assert DedupRecipe(hamming=24).hamming == 24
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**64, size=400, dtype=np.uint64)
    hashes[1] = hashes[0] ^ np.uint64((1 << 20) - 1)  # 20 bits apart
    monkeypatch.setattr("curate.curation.hamming.BRUTE_FORCE_BELOW", 10)  # a "large" set
    monkeypatch.setattr("curate.curation.hamming.multi_index_pairs", lambda *a, **k: pytest.fail("multi-index hashing at radius 20"))
    pairs = {tuple(p) for p in pairs_within(hashes, 20).tolist()}
    assert (0, 1) in pairs and pairs == {tuple(p) for p in hamming_pairs(hashes, 20).tolist()}
