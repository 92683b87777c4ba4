"""Turn an imported Fashion-MNIST dataset into a dataset of rendered product shots.

The items (28x28 greyscale PNGs with their mapped categories) become single-item flat-lay
packshots and multi-item outfit canvases (curate.demo.scenes), each written as a PNG under media/
with a mask PNG (one label map per image) beside it.

What the tables hold, and why:
- images.official_split is the Fashion-MNIST half the items came from: the gold split is built
  from `test` only, so no training item ever reaches gold.
- Training flat-lays arrive like catalogue packshots, with a whole-image label and no box;
  auto-boxing proposes their boxes, and the exact box kept in gt_x_min..gt_y_max scores it.
- Outfits, and every image made from official test items, carry their exact boxes
  (box_origin `source`): they are the ground truth the detector is trained and judged on.
- objects.mask_path + mask_value locate the object's pixel mask, so balancing can recompute
  tight boxes after rotation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from curate.dataset import BOX_COLUMNS, Dataset, images_frame, objects_frame, stable_id
from curate.demo.scenes import BOTTOMS, DRESSES, SHOES, TOPS, OutfitItem, Scene, render_flat_lay, render_outfit
from curate.geometry import xyxy_rel_to_px
from curate.sources.fashion_mnist import CLASS_NAMES

SOURCE = "fashion-mnist-scenes"
GT_COLUMNS = tuple(f"gt_{c}" for c in BOX_COLUMNS)
OFFICIAL_SPLITS = ("train", "test")


@dataclass(frozen=True)
class SceneSpec:
    """Everything one worker needs to draw and write one scene (picklable)."""

    kind: str  # flat-lay | outfit
    official_split: str
    index: int
    items: tuple[tuple[bytes, int, str], ...]  # (28x28 pixels, class id, item image_id)
    seed: tuple[int, ...]
    canvas_px: int
    pattern_share: float
    patterns: tuple[str, ...]
    root: str

    @property
    def source_id(self) -> str:
        return f"{self.official_split}/{self.kind}/{self.index:05d}"

    @property
    def image_path(self) -> str:
        return f"media/scenes/{self.official_split}/{self.kind}-{self.index:05d}.png"

    @property
    def mask_path(self) -> str:
        return f"media/masks/{self.official_split}/{self.kind}-{self.index:05d}.png"


def _write_png(path: Path, image: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    data = encoded.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def draw_scene(spec: SceneSpec) -> Scene:
    items = [OutfitItem(np.frombuffer(px, np.uint8).reshape(28, 28), label) for px, label, _ in spec.items]
    if spec.kind == "flat-lay":
        return render_flat_lay(items[0].item, items[0].label, spec.seed, spec.canvas_px, pattern_share=spec.pattern_share, patterns=spec.patterns)
    return render_outfit(items, spec.seed, spec.canvas_px, pattern_share=spec.pattern_share, patterns=spec.patterns)


def write_scene(spec: SceneSpec) -> dict:
    """Draw one scene, write its image and mask PNGs, return its rows (runs in workers)."""
    scene = draw_scene(spec)
    root = Path(spec.root)
    sha = _write_png(root / spec.image_path, cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    _write_png(root / spec.mask_path, scene.label_map())
    item_ids = {label: item_id for _, label, item_id in spec.items}
    objects = []
    for k, obj in enumerate(scene.objects, start=1):
        objects.append({"k": k, "label": obj.label, "pattern": obj.pattern, "box": obj.box_xyxy_rel(), "item_image_id": item_ids[obj.label]})
    return {"sha256": sha, "height": scene.image.shape[0], "width": scene.image.shape[1], "objects": objects}


def items_table(items: Dataset) -> pd.DataFrame:
    """One row per imported item: image id, official split, class id, category, object type, pixels."""
    objects = items.objects.drop_duplicates("image_id")
    table = items.images[["image_id", "path", "split"]].merge(
        objects[["image_id", "source_label", "category", "object_type"]], on="image_id"
    )
    table["label"] = [CLASS_NAMES.index(name) for name in table["source_label"]]
    return table.sort_values("image_id", kind="mergesort").reset_index(drop=True)


def _draw_roles(pool: pd.DataFrame, rng: np.random.Generator) -> dict[str, list[int]]:
    """Row positions of the pool by outfit role, each list in a seeded random order."""
    roles = {"top": TOPS, "bottom": BOTTOMS, "dress": DRESSES, "shoes": SHOES}
    return {role: list(rng.permutation(np.flatnonzero(pool["label"].isin(ids)))) for role, ids in roles.items()}


def plan_scenes(
    items: pd.DataFrame,
    read_pixels,
    flat_lays: dict[str, int],
    outfits: dict[str, int],
    seed: int,
    flat_lay_px: int,
    outfit_px: int,
    pattern_share: float,
    patterns: tuple[str, ...],
    root: Path,
) -> list[SceneSpec]:
    """Choose the items of every scene: outfits first, flat-lays from the items left over.

    No item is used twice, so one product never appears in two scenes (and never in two splits).
    Outfits alternate top + bottom + shoes and dress + shoes while each role has items left.
    """
    specs: list[SceneSpec] = []
    for split_code, split in enumerate(OFFICIAL_SPLITS):
        pool = items[items["split"] == split].reset_index(drop=True)
        rng = np.random.default_rng([seed, split_code])
        roles = _draw_roles(pool, rng)
        used: set[int] = set()

        def item(position: int) -> tuple[bytes, int, str]:
            used.add(position)
            row = pool.iloc[position]
            return read_pixels(row["path"]), int(row["label"]), str(row["image_id"])

        for index in range(outfits.get(split, 0)):
            wanted = ("top", "bottom", "shoes") if index % 2 == 0 else ("dress", "shoes")
            if any(not roles[r] for r in wanted):
                wanted = ("dress", "shoes") if wanted[0] == "top" else ("top", "bottom", "shoes")
            if any(not roles[r] for r in wanted):
                break
            chosen = tuple(item(roles[r].pop()) for r in wanted)
            specs.append(SceneSpec("outfit", split, index, chosen, (seed, split_code, 1, index), outfit_px, pattern_share, patterns, str(root)))
        rest = [p for p in rng.permutation(len(pool)) if p not in used]
        for index, position in enumerate(rest[: flat_lays.get(split, 0)]):
            specs.append(SceneSpec("flat-lay", split, index, (item(int(position)),), (seed, split_code, 0, index), flat_lay_px, pattern_share, patterns, str(root)))
    return specs


def _title(pattern: str | None, category: str) -> str:
    return f"{pattern.capitalize()} {category}" if pattern else category.capitalize()


def scenes_to_tables(specs: list[SceneSpec], results: list[dict], items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of images.parquet and objects.parquet for rendered scenes (see the module notes)."""
    by_item = items.set_index("image_id")
    image_rows, object_rows = [], []
    for spec, result in zip(specs, results):
        image_id = stable_id(SOURCE, spec.source_id)
        exact = spec.kind == "outfit" or spec.official_split == "test"
        categories = [by_item.at[o["item_image_id"], "category"] for o in result["objects"]]
        patterns = [o["pattern"] for o in result["objects"]]
        image_rows.append(
            {
                "image_id": image_id,
                "path": spec.image_path,
                "width": result["width"],
                "height": result["height"],
                "sha256": result["sha256"],
                "source": SOURCE,
                "source_id": spec.source_id,
                # A packshot's product is its Fashion-MNIST item; an outfit is a product of its own.
                "product_id": spec.items[0][2] if spec.kind == "flat-lay" else spec.source_id,
                "name": " + ".join(dict.fromkeys(_title(p, c) for p, c in zip(patterns, categories))),
                "official_split": spec.official_split,
                "scene": spec.kind,
            }
        )
        for obj, category in zip(result["objects"], categories):
            row = by_item.loc[obj["item_image_id"]]
            box = dict(zip(BOX_COLUMNS, obj["box"]))
            object_rows.append(
                {
                    "object_id": stable_id(image_id, obj["k"]),
                    "image_id": image_id,
                    **(box if exact else {}),
                    "object_type": row["object_type"],
                    "category": category,
                    "pattern": obj["pattern"],
                    "attributes": [],
                    "source_label": row["source_label"],
                    "box_origin": "source" if exact else None,
                    "review_status": "unreviewed",
                    **{f"gt_{k}": v for k, v in box.items()},
                    "mask_path": spec.mask_path,
                    "mask_value": obj["k"],
                    "item_image_id": obj["item_image_id"],
                }
            )
    images = images_frame(image_rows)
    objects = objects_frame(object_rows)
    for col in (*BOX_COLUMNS, *GT_COLUMNS):
        objects[col] = objects[col].astype("float32")
    objects["mask_value"] = objects["mask_value"].astype("int32")
    # Rows without a pattern or box origin must hold None, not the NaN pandas fills in.
    for col in ("pattern", "box_origin"):
        objects[col] = objects[col].astype(object).where(objects[col].notna(), None)
    return images, objects


def contact_sheet(dataset_path: Path, images: pd.DataFrame, objects: pd.DataFrame, out: Path, per_kind: int = 4, tile_px: int = 224) -> Path:
    """A PNG grid of rendered scenes from official test items with their exact boxes, coloured
    by object type as the predictor draws them, labelled with category and synthetic pattern."""
    from curate.models.predictor import COLOURS_BGR

    rows = []
    for kind in ("flat-lay", "outfit"):
        chosen = images[(images["scene"] == kind) & (images["official_split"] == "test")].sort_values("image_id").head(per_kind)
        tiles = []
        for image in chosen.itertuples():
            tile = cv2.resize(cv2.imread(str(dataset_path / image.path)), (tile_px, tile_px), interpolation=cv2.INTER_AREA)
            for obj in objects[objects["image_id"] == image.image_id].itertuples():
                x0, y0, x1, y1 = (int(v) for v in np.round(xyxy_rel_to_px([getattr(obj, c) for c in GT_COLUMNS], (tile_px, tile_px))))
                colour = COLOURS_BGR[obj.object_type]
                cv2.rectangle(tile, (x0, y0), (x1 - 1, y1 - 1), colour, 1)
                text = " ".join(t for t in (obj.category, obj.pattern) if isinstance(t, str))
                cv2.putText(tile, text, (x0 + 1, max(y0 - 3, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)
            tiles.append(tile)
        tiles += [np.full((tile_px, tile_px, 3), 255, np.uint8)] * (per_kind - len(tiles))
        rows.append(np.concatenate(tiles, axis=1))
    _write_png(out, np.concatenate(rows, axis=0))
    return out
