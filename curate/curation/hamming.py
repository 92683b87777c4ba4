"""All pairs of 64-bit hashes within a Hamming radius: brute force for small sets, multi-index
hashing for large ones; both exact.

Multi-index hashing splits the 64 bits into m disjoint chunks. Two hashes within `radius` bits
differ by at most floor(radius / m) bits in at least one chunk (pigeonhole), so every pair is
found by looking each hash's chunk up, with up to that many bits flipped, in a table of the
other hashes' chunks, and the candidates are then checked on all 64 bits. The chunk count is
the one with the least estimated work for the number of hashes: for a million hashes and a
radius of 8, three chunks of 21-22 bits and up to two flipped bits (a few seconds of numpy),
where comparing every pair would take 5 x 10^11 comparisons.
"""

from __future__ import annotations

import itertools

import numpy as np

# Below this many hashes the blocked brute force is as fast and simpler.
BRUTE_FORCE_BELOW = 20_000
# Above this radius the chunks' flip patterns match most of every table: brute force is cheaper.
MULTI_INDEX_MAX_RADIUS = 16


def hamming_pairs(hashes: np.ndarray, threshold: int, block: int = 2048) -> np.ndarray:
    """All index pairs (i < j) of uint64 hashes within `threshold` differing bits, as (k, 2), by brute force."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    found = []
    for start in range(0, len(hashes), block):
        chunk = hashes[start : start + block]
        distance = np.bitwise_count(chunk[:, None] ^ hashes[None, start:])
        i, j = np.nonzero(distance <= threshold)
        j = j + start
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found).astype(np.int64) if found else np.zeros((0, 2), dtype=np.int64)


def flip_patterns(width: int, flips: int) -> np.ndarray:
    """Every mask of at most `flips` set bits within `width` bits (0 first)."""
    masks = [0]
    for k in range(1, flips + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(width), k)]
    return np.array(masks, dtype=np.int64)


def chunk_count(n: int, radius: int) -> int:
    """The chunk count with the least estimated work: probes x hashes + expected chance candidates."""
    best = None
    for m in range(1, min(radius + 1, 8) + 1):
        width = -(-64 // m)
        if width > 24:  # a table of more than 2^24 buckets costs more memory than it saves
            continue
        probes = sum(len(list(itertools.combinations(range(width), k))) for k in range(radius // m + 1))
        cost = m * probes * (n + n * n / 2.0**width)
        if best is None or cost < best[0]:
            best = (cost, m)
    return best[1] if best else 4


def multi_index_pairs(hashes: np.ndarray, radius: int, chunks: int | None = None) -> np.ndarray:
    """All index pairs (i < j) within `radius` bits, as sorted unique (k, 2), by multi-index hashing."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    m = chunks or chunk_count(n, radius)
    widths = [64 // m + (1 if c < 64 % m else 0) for c in range(m)]
    found = []
    shift = 0
    for width in widths:
        # 32-bit keys and counts: half the memory traffic of the ~250 passes over every hash
        key = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int32)
        shift += width
        order = np.argsort(key, kind="stable").astype(np.int32)
        counts = np.bincount(key, minlength=1 << width).astype(np.int32)
        starts = (np.cumsum(counts) - counts).astype(np.int32)
        for flip in flip_patterns(width, radius // m).astype(np.int32):
            partner = key ^ flip
            sizes = counts[partner]
            has = np.flatnonzero(sizes)
            sizes = sizes[has]
            i = np.repeat(has, sizes)
            offsets = np.arange(len(i), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            j = order[np.repeat(starts[partner[has]], sizes) + offsets]
            keep = i < j
            i, j = i[keep], j[keep]
            close = np.bitwise_count(hashes[i] ^ hashes[j]) <= radius
            if close.any():
                found.append(np.stack([i[close], j[close]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0).astype(np.int64)


def pairs_within(hashes: np.ndarray, radius: int) -> np.ndarray:
    """All index pairs (i < j) within `radius` bits, sorted: brute force or multi-index hashing by size."""
    if len(hashes) < BRUTE_FORCE_BELOW or radius > MULTI_INDEX_MAX_RADIUS:
        pairs = hamming_pairs(hashes, radius)
        return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else pairs
    return multi_index_pairs(hashes, radius)
