"""Synthetic product photography from Fashion-MNIST items, with exact boxes and pixel masks.

Two kinds of scene:
- a single-item flat-lay product shot: one garment, upscaled, coloured, with a soft shadow on a
  light, slightly uneven background (what a retailer's packshot looks like);
- a multi-item outfit canvas: top + bottom + a pair of shoes, or dress + a pair of shoes, laid
  out like an outfit flat-lay, later items occluding earlier ones.

Every object comes with its exact pixel mask (what is visible of it in the final image) and
the tight box of that mask, so auto-boxing and detection can be scored against the truth.

A share of garments gets a synthetic pattern (stripes, checks, polka dots, animal print,
camouflage, ...) drawn inside the garment's own mask; the names are the taxonomy's patterns.
These patterns are synthetic: Fashion-MNIST itself has no pattern labels.

Everything is seeded: the same items and seed give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from curate.geometry import tight_box_xyxy, xyxy_px_to_rel

# Fashion-MNIST class ids by the role they play in an outfit (8, Bag, is never drawn).
TOPS = (0, 2, 4, 6)
BOTTOMS = (1,)
DRESSES = (3,)
SHOES = (5, 7, 9)
GARMENTS = TOPS + BOTTOMS + DRESSES

# Visible pixels of a garment: the upscaled intensity above this (Fashion-MNIST background is 0).
MASK_THRESHOLD = 40


@dataclass
class SceneObject:
    """One item in a scene: its source label, pattern and exact visible mask (full canvas)."""

    label: int
    mask: np.ndarray
    pattern: str | None = None
    item_index: int = -1

    def box_xyxy_px(self) -> tuple[int, int, int, int]:
        """Tight box of the visible pixels: (x_min, y_min, x_max, y_max), max exclusive."""
        box = tight_box_xyxy(self.mask)
        if box is None:
            raise ValueError("the object has no visible pixels")
        return box

    def box_xyxy_rel(self) -> tuple[float, float, float, float]:
        h, w = self.mask.shape
        return tuple(float(v) for v in xyxy_px_to_rel(self.box_xyxy_px(), (w, h)))  # type: ignore[return-value]


@dataclass
class Scene:
    """An RGB uint8 image and its objects (in drawing order)."""

    image: np.ndarray
    objects: list[SceneObject] = field(default_factory=list)

    def label_map(self) -> np.ndarray:
        """uint8 map: 0 background, k the k-th object (1-based), for storing all masks in one PNG."""
        out = np.zeros(self.image.shape[:2], dtype=np.uint8)
        for k, obj in enumerate(self.objects, start=1):
            out[obj.mask] = k
        return out


# ---------------------------------------------------------------------------------------------
# Colours and pattern textures: pure functions of (height, width, rng) -> float RGB in 0..1


def random_colour(rng: np.random.Generator, value: tuple[float, float] = (0.3, 0.9)) -> np.ndarray:
    """A garment-like RGB colour from a random hue, moderate saturation and the given brightness."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 210), int(255 * rng.uniform(*value))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _contrasting(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """A second colour that stands out against `colour` (lighter on dark, darker on light)."""
    light = colour.mean() < 0.55
    return random_colour(rng, (0.8, 0.98) if light else (0.1, 0.35))


def _two_tone(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(mask[..., None], b, a).astype(np.float32)


def _rotated_coords(h: int, w: int, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle_deg)
    return xs * np.cos(t) + ys * np.sin(t), -xs * np.sin(t) + ys * np.cos(t)


def striped(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = random_colour(rng)
    u, _ = _rotated_coords(h, w, float(rng.choice([0, 90, 45, 135])))
    period = rng.uniform(7, 14)
    return _two_tone((u % period) < period * rng.uniform(0.3, 0.5), base, _contrasting(rng, base))


def checked(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base, other = random_colour(rng, (0.75, 0.95)), random_colour(rng, (0.2, 0.45))
    period = rng.uniform(8, 16)
    ys, xs = np.mgrid[0:h, 0:w]
    band_x = (xs % period) < period / 2
    band_y = (ys % period) < period / 2
    # Gingham: the colour at full strength where bands cross, half where one band passes.
    weight = (band_x.astype(np.float32) + band_y) / 2
    return (base * (1 - weight[..., None]) + other * weight[..., None]).astype(np.float32)


def tartan(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    out = np.broadcast_to(random_colour(rng, (0.25, 0.5)), (h, w, 3)).copy()
    ys, xs = np.mgrid[0:h, 0:w]
    period = rng.uniform(18, 28)
    for offset, width in ((0.0, 0.3), (0.55, 0.1), (0.8, 0.05)):
        colour = random_colour(rng)
        for coord in (xs, ys):
            band = ((coord / period - offset) % 1.0) < width
            out[band] = 0.5 * out[band] + 0.5 * colour
    return out.astype(np.float32)


def polka_dots(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = random_colour(rng)
    radius = int(rng.integers(2, 4))
    step = radius * int(rng.integers(3, 5))
    mask = np.zeros((h, w), np.uint8)
    for row, y in enumerate(range(0, h + step, step)):
        for x in range(-step, w + step, step):
            cv2.circle(mask, (x + (step // 2) * (row % 2), y), radius, 1, -1, cv2.LINE_8)
    return _two_tone(mask.astype(bool), base, _contrasting(rng, base))


def spots(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = random_colour(rng)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(h * w / 180)):
        cv2.circle(mask, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(2, 6)), 1, -1)
    return _two_tone(mask.astype(bool), base, _contrasting(rng, base))


def animal_print(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Leopard-like rosettes: dark irregular rings around a deeper centre on a tan ground."""
    tan = np.float32([0.82, 0.64, 0.36]) * rng.uniform(0.85, 1.05)
    out = (np.ones((h, w, 3), np.float32) * np.clip(tan, 0, 1)).copy()
    ring, centre = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    for _ in range(int(h * w / 160)):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(3, 6)), int(rng.integers(2, 5)))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(ring, c, axes, angle, 0, 360, 1, -1)
        cv2.ellipse(centre, c, (max(1, axes[0] - 2), max(1, axes[1] - 2)), angle, 0, 360, 1, -1)
    out[ring.astype(bool)] = (0.12, 0.08, 0.05)
    out[centre.astype(bool)] = np.clip(tan * 0.7, 0, 1)
    return out


def camouflage(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Woodland camouflage: smoothed noise cut into four levels of olive, brown, khaki, black."""
    palette = np.float32([[0.33, 0.38, 0.2], [0.45, 0.33, 0.2], [0.71, 0.66, 0.47], [0.12, 0.12, 0.1]])
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigmaX=float(rng.uniform(5, 8)))
    levels = np.digitize(noise, np.quantile(noise, [0.3, 0.6, 0.85]))
    return palette[levels]


def zigzag(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = random_colour(rng)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period, amplitude = rng.uniform(10, 16), rng.uniform(4, 7)
    tooth = amplitude * np.abs(((xs / period) % 1.0) * 2 - 1)
    return _two_tone(((ys + tooth) % period) < period / 2, base, _contrasting(rng, base))


def grid_print(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = random_colour(rng, (0.7, 0.95))
    ys, xs = np.mgrid[0:h, 0:w]
    period = int(rng.integers(8, 14))
    return _two_tone((xs % period < 2) | (ys % period < 2), base, _contrasting(rng, base))


def colourblock(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    ys = np.mgrid[0:h, 0:w][0]
    cuts = np.sort(rng.uniform(0.25, 0.75, size=2)) * h
    band = np.digitize(ys, cuts)
    colours = np.stack([random_colour(rng) for _ in range(3)])
    return colours[band].astype(np.float32)


# Explicit registry: taxonomy pattern name -> texture function.
PATTERNS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "striped": striped,
    "checked": checked,
    "tartan": tartan,
    "polka dots": polka_dots,
    "spots": spots,
    "animal print": animal_print,
    "camouflage": camouflage,
    "zigzag": zigzag,
    "grid print": grid_print,
    "colourblock": colourblock,
}


# ---------------------------------------------------------------------------------------------
# Garments and canvases


def light_background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A light, slightly warm or cool studio background with a gentle gradient and paper grain."""
    top = rng.uniform(0.88, 0.98) + rng.uniform(-0.03, 0.03, size=3)
    bottom = top - rng.uniform(0.0, 0.06)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    grain = rng.normal(0, 0.006, size=(h, w, 1)).astype(np.float32)
    return np.clip(top * (1 - ramp) + bottom * ramp + grain, 0, 1).astype(np.float32)


def main_body(mask: np.ndarray, min_share: float = 0.02) -> np.ndarray:
    """Drop specks: pixel islands under `min_share` of the largest part (scan noise, not product)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = areas >= min_share * areas.max()
    return keep[labels]


def garment_patch(item: np.ndarray, scale: float, pattern: str | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Upscale one 28x28 item and colour it: returns (RGB float patch, boolean mask).

    The item's own grey levels shade the colour or pattern, so seams and folds stay visible;
    the pattern is drawn only where the mask is set.
    """
    size = int(round(item.shape[0] * scale))
    grey = cv2.resize(item, (size, size), interpolation=cv2.INTER_LINEAR)
    mask = main_body(grey > MASK_THRESHOLD)
    if pattern is None:
        texture = np.broadcast_to(random_colour(rng), (size, size, 3))
    else:
        texture = PATTERNS[pattern](size, size, rng)
    peak = max(float(grey[mask].max()) if mask.any() else 1.0, 1.0)
    shade = 0.45 + 0.55 * np.clip(grey.astype(np.float32) / peak, 0, 1)
    patch = texture * shade[..., None]
    return np.where(mask[..., None], patch, 0).astype(np.float32), mask


def _soft_shadow(canvas: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Darken the background under and slightly below-right of a mask (in place)."""
    dx, dy = int(rng.integers(2, 6)), int(rng.integers(3, 7))
    shifted = np.zeros(mask.shape, np.float32)
    h, w = mask.shape
    shifted[dy:, dx:] = mask[: h - dy, : w - dx]
    blur = cv2.GaussianBlur(shifted, (0, 0), sigmaX=float(rng.uniform(4, 7)))
    canvas *= (1 - float(rng.uniform(0.08, 0.16)) * blur)[..., None]


def _paste(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, x: int, y: int) -> np.ndarray:
    """Paste a patch at (x, y) where its mask is set; returns the mask in canvas coordinates."""
    h, w = mask.shape
    full = np.zeros(canvas.shape[:2], bool)
    full[y : y + h, x : x + w] = mask
    canvas[full] = patch[mask]
    return full


def _choose_pattern(label: int, pattern_share: float, patterns: tuple[str, ...], rng: np.random.Generator) -> str | None:
    if label not in GARMENTS or not patterns or rng.random() >= pattern_share:
        return None
    return str(patterns[int(rng.integers(len(patterns)))])


def _to_uint8(canvas: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(canvas * 255), 0, 255).astype(np.uint8)


def render_flat_lay(
    item: np.ndarray,
    label: int,
    seed: int | Sequence[int],
    canvas_px: int = 224,
    scale: float = 4.0,
    pattern_share: float = 0.5,
    patterns: tuple[str, ...] = tuple(PATTERNS),
    item_index: int = -1,
) -> Scene:
    """One item as a packshot: upscaled, coloured, softly shadowed, at a random position."""
    rng = np.random.default_rng(seed)
    pattern = _choose_pattern(label, pattern_share, patterns, rng)
    patch, mask = garment_patch(item, scale, pattern, rng)
    canvas = light_background(canvas_px, canvas_px, rng)
    # A packshot keeps a margin of background around the product on every side.
    margin = canvas_px // 28
    room = canvas_px - mask.shape[0] - margin
    x, y = int(rng.integers(margin, room + 1)), int(rng.integers(margin, room + 1))
    placed = np.zeros((canvas_px, canvas_px), bool)
    placed[y : y + mask.shape[0], x : x + mask.shape[1]] = mask
    _soft_shadow(canvas, placed, rng)
    full = _paste(canvas, patch, mask, x, y)
    return Scene(_to_uint8(canvas), [SceneObject(label, full, pattern, item_index)])


@dataclass(frozen=True)
class OutfitItem:
    item: np.ndarray
    label: int
    item_index: int = -1


def render_outfit(
    items: list[OutfitItem],
    seed: int | Sequence[int],
    canvas_px: int = 256,
    pattern_share: float = 0.5,
    patterns: tuple[str, ...] = tuple(PATTERNS),
) -> Scene:
    """An outfit flat-lay: [top, bottom, shoe] or [dress, shoe]; the shoe is drawn as a pair.

    Garments are stacked from the top of the canvas down with random jitter; the two shoes sit
    side by side at the bottom, the second mirrored. Later items may overlap earlier ones
    slightly; each object's mask is what stays visible.
    """
    labels = [it.label for it in items]
    valid = (len(items) == 3 and labels[0] in TOPS and labels[1] in BOTTOMS and labels[2] in SHOES) or (
        len(items) == 2 and labels[0] in DRESSES and labels[1] in SHOES
    )
    if not valid:
        raise ValueError(f"an outfit is top + bottom + shoes or dress + shoes, got labels {labels}")
    rng = np.random.default_rng(seed)
    canvas = light_background(canvas_px, canvas_px, rng)
    unit = canvas_px / 256
    placements = []  # (patch, mask, x, y, label, pattern, item_index)
    y = int(rng.integers(4, 14) * unit)
    garment_scale = (3.4 if len(items) == 2 else 3.0) * unit
    for it in items[:-1]:
        pattern = _choose_pattern(it.label, pattern_share, patterns, rng)
        patch, mask = garment_patch(it.item, garment_scale, pattern, rng)
        x = int((canvas_px - mask.shape[1]) / 2 + rng.integers(-20, 21) * unit)
        placements.append((patch, mask, x, y, it.label, pattern, it.item_index))
        y += mask.shape[0] - int(rng.integers(6, 14) * unit)
    shoe = items[-1]
    patch, mask = garment_patch(shoe.item, 2.0 * unit, None, rng)
    rows = np.flatnonzero(mask.any(axis=1))
    # Shoes rest on the bottom band of the canvas whatever their height inside the 28x28 cell.
    y_shoe = min(y + int(4 * unit), canvas_px - int(rows.max()) - 1 - int(rng.integers(2, 8) * unit))
    gap = int(rng.integers(4, 16) * unit)
    x_left = int(canvas_px / 2 - gap / 2 - mask.shape[1])
    placements.append((patch, mask, x_left, y_shoe, shoe.label, None, shoe.item_index))
    placements.append((patch[:, ::-1], mask[:, ::-1], x_left + mask.shape[1] + gap, y_shoe, shoe.label, None, shoe.item_index))

    objects: list[SceneObject] = []
    for patch, mask, x, y0, label, pattern, index in placements:
        x = int(np.clip(x, 0, canvas_px - mask.shape[1]))
        y0 = int(np.clip(y0, 0, canvas_px - mask.shape[0]))
        placed = np.zeros(canvas.shape[:2], bool)
        placed[y0 : y0 + mask.shape[0], x : x + mask.shape[1]] = mask
        _soft_shadow(canvas, placed, rng)
        full = _paste(canvas, patch, mask, x, y0)
        for earlier in objects:
            earlier.mask &= ~full
        objects.append(SceneObject(label, full, pattern, index))
    return Scene(_to_uint8(canvas), [o for o in objects if o.mask.any()])
