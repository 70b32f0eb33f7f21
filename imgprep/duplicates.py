"""Exact and near duplicates among profiled images, and the images that leak across splits.

Input: the profile rows ``inspect`` collects (``imgprep.profile``: an exact pixel digest and a
64-bit perceptual hash per image) and each row's split. Output: ``DuplicateReport``, whose
pairs are NumPy arrays of ``PAIR_DTYPE`` (a million images may give millions of them).

- Exact duplicates: rows with the same digest (identical decoded pixels), as groups.
- Near duplicates: images whose perceptual hashes differ in at most ``near`` bits and whose
  pixels are not identical, as pairs (distance in bits). Identical hashes are one node: a
  pair of nodes stands for every pair of their images (``count``), so a folder of 10,000
  copies of one blank frame is one node, not 50 million pairs. Nodes within ``near`` bits are
  found by multi-index hashing (Norouzi et al. 2012): cut the 64 bits into ``near + 1``
  pieces; two hashes within ``near`` bits agree exactly on at least one piece (pigeonhole),
  so only hashes sharing a piece are compared, bucket by bucket.
- Leakage: with splits, each image of a later split (``train`` counts first, then the order
  given) that duplicates an image of an earlier one, exactly or within ``near`` bits, with
  its closest such partner: one in ``train`` first, then an exact one, then the fewest bits.
  A partner in ``train`` means training data leaked into that split (``leaks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from imgprep.profile import hamming
from imgprep.splits import TRAIN

MAX_NEAR = 16  # beyond, the 17 pieces are 3-4 bits and each bucket holds most hashes
SMALL_BUCKET = 64  # buckets up to this size are paired all at once, larger ones one by one
PAIR_DTYPE = np.dtype(
    [
        ("first", np.int64),  # a row (position in the profile table)
        ("second", np.int64),  # another row: for cross-split pairs, the earlier partner
        ("distance", np.int64),  # bits
        ("exact", np.bool_),  # identical pixels
        ("count", np.int64),  # image pairs it stands for (identical hashes, exact copies)
    ]
)


@dataclass
class DuplicateReport:
    """What ``find_duplicates`` found."""

    images: int
    near: int
    exact_groups: list[list[int]] = field(default_factory=list)  # rows, in input order
    near_pairs: np.ndarray = field(default_factory=lambda: np.zeros(0, PAIR_DTYPE))
    cross_split: np.ndarray = field(default_factory=lambda: np.zeros(0, PAIR_DTYPE))
    leaks: np.ndarray = field(default_factory=lambda: np.zeros(0, PAIR_DTYPE))

    @property
    def exact_images(self) -> int:
        """Images with an identical copy elsewhere (every member of every group)."""
        return sum(len(group) for group in self.exact_groups)


def find_duplicates(
    digests: np.ndarray,
    hashes: np.ndarray,
    splits: Sequence[str] | None = None,
    *,
    near: int,
    flat: np.ndarray | None = None,
) -> DuplicateReport:
    """Exact groups, near pairs and cross-split duplicates among n profiled images.

    Args:
        digests: (n,) ``S16`` pixel digests.
        hashes: (n,) ``uint64`` perceptual hashes.
        splits: each row's split name (None: one dataset, no leakage).
        near: the largest Hamming distance of a near pair, 0 to ``MAX_NEAR``.
        flat: (n,) rows whose hash means nothing (uniform images, ``imgprep.profile``):
            never near anything; an identical copy is still an exact duplicate.
    """
    if not 0 <= near <= MAX_NEAR:
        raise ValueError(f"near must be in [0, {MAX_NEAR}] bits, not {near}")
    report = DuplicateReport(images=len(hashes), near=near)
    group_of, report.exact_groups = _exact_groups(digests)
    hashed = np.arange(len(hashes)) if flat is None else np.flatnonzero(~flat)
    unique, first, nodes, sizes = np.unique(
        hashes[hashed], return_index=True, return_inverse=True, return_counts=True
    )
    first_row = hashed[first]
    node_of = np.full(len(hashes), -1, dtype=np.int64)  # -1: no hash node (a flat image)
    node_of[hashed] = nodes.reshape(-1)
    edges = _near_edges(unique, near)
    report.near_pairs = _near_pairs(group_of, node_of, first_row, sizes, edges)
    if splits is not None:
        names = list(dict.fromkeys(splits))
        order = {name: (0 if name == TRAIN else 1 + names.index(name)) for name in names}
        rank = np.array([order[name] for name in splits], dtype=np.int64)
        report.cross_split = _cross_split(rank, group_of, node_of, edges)
        report.leaks = report.cross_split[rank[report.cross_split["second"]] == 0]
    return report


def _exact_groups(digests: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Each row's group (its first row) and the groups of two or more rows."""
    n = len(digests)
    if n == 0:
        return np.zeros(0, np.int64), []
    order = np.argsort(digests, kind="stable")
    ordered = digests[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    first = order[starts]  # stable sort: each group's smallest row
    group_of = np.empty(n, dtype=np.int64)
    group_of[order] = np.repeat(first, np.diff(np.append(starts, n)))
    by_group = np.argsort(group_of, kind="stable")  # each group's rows ascending
    bounds = np.flatnonzero(np.diff(group_of[by_group])) + 1
    groups = [rows.tolist() for rows in np.split(by_group, bounds) if len(rows) > 1]
    return group_of, groups


def _near_edges(unique: np.ndarray, near: int) -> np.ndarray:
    """Node pairs (a < b, distance) within ``near`` bits, as an (m, 3) int64 array."""
    if near == 0 or len(unique) < 2:
        return np.zeros((0, 3), dtype=np.int64)
    found = []
    for shift, width in _pieces(near + 1):
        keys = (unique >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        sizes = np.diff(np.append(starts, len(order)))
        bucket = np.repeat(np.arange(len(starts)), sizes)
        for offset in range(1, min(SMALL_BUCKET, int(sizes.max()))):  # small buckets at once
            same = (bucket[:-offset] == bucket[offset:]) & (sizes[bucket[offset:]] <= SMALL_BUCKET)
            first, second = order[:-offset][same], order[offset:][same]
            close = hamming(unique[first], unique[second]) <= near  # keep only what is near
            found.append(np.stack([first[close], second[close]], axis=1))
        for start, size in zip(starts[sizes > SMALL_BUCKET], sizes[sizes > SMALL_BUCKET],
                               strict=True):  # fmt: skip
            found.append(_bucket_pairs(unique, order[start : start + size], near))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)
    keys = np.sort(pairs.min(axis=1) * len(unique) + pairs.max(axis=1))  # one int per pair
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
    pairs = np.stack([keys // len(unique), keys % len(unique)], axis=1)
    distances = hamming(unique[pairs[:, 0]], unique[pairs[:, 1]])
    return np.column_stack([pairs, distances]).astype(np.int64)


def _bucket_pairs(unique: np.ndarray, bucket: np.ndarray, near: int) -> np.ndarray:
    """Node pairs of one large bucket within ``near`` bits, in blocks of rows (never the
    whole square at once)."""
    values = unique[bucket]
    block = max(1, (1 << 20) // len(bucket))  # about 1M distances (10 MB) at a time
    found = []
    for start in range(0, len(bucket), block):
        distances = hamming(values[start : start + block, None], values[None, :])
        rows, cols = np.nonzero(distances <= near)
        keep = start + rows < cols
        found.append(np.stack([bucket[start + rows[keep]], bucket[cols[keep]]], axis=1))
    return np.concatenate(found)


def _near_pairs(
    group_of: np.ndarray,
    node_of: np.ndarray,
    first_row: np.ndarray,
    sizes: np.ndarray,
    edges: np.ndarray,
) -> np.ndarray:
    """Within a node, each distinct pixel content after the first, paired with the first
    (distance 0); between neighbouring nodes, their first images."""
    group_sizes = np.bincount(group_of, minlength=len(group_of))
    contents = np.flatnonzero(group_of == np.arange(len(group_of)))  # one row per content
    contents = contents[node_of[contents] >= 0]
    by_node = contents[np.lexsort((contents, node_of[contents]))]
    nodes = node_of[by_node]
    later = np.zeros(len(nodes), dtype=bool)  # a content after the first of its node
    later[1:] = nodes[1:] == nodes[:-1]
    first_content = by_node[np.searchsorted(nodes, nodes)]
    same = np.zeros(int(later.sum()), dtype=PAIR_DTYPE)
    same["first"], same["second"] = first_content[later], by_node[later]
    same["count"] = group_sizes[same["first"]] * group_sizes[same["second"]]
    between = np.zeros(len(edges), dtype=PAIR_DTYPE)
    ends = np.sort(np.stack([first_row[edges[:, 0]], first_row[edges[:, 1]]], axis=1), axis=1)
    between["first"], between["second"] = ends[:, 0], ends[:, 1]
    between["distance"] = edges[:, 2]
    between["count"] = sizes[edges[:, 0]] * sizes[edges[:, 1]]
    pairs = np.concatenate([same, between])
    return pairs[np.lexsort((pairs["second"], pairs["first"], pairs["distance"]))]


def _cross_split(
    rank: np.ndarray, group_of: np.ndarray, node_of: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """For each row with a duplicate in an earlier split, Pair(row, its best partner).

    Each exact group and each hash node is represented by its member of the earliest split
    (its first row there), so a group of 10,000 copies costs one lookup per row.
    """
    rows = np.arange(len(rank))
    group_best = _earliest(group_of, rank)
    node_best = _earliest(node_of, rank)
    same_node = (
        np.where(node_of >= 0, node_best[np.maximum(node_of, 0)], rows) if len(node_best) else rows
    )  # a flat image (no node) is its own partner: never an earlier one
    candidates = [  # (row, partner, inexact, distance)
        (rows, group_best[group_of], np.zeros_like(rows), np.zeros_like(rows)),
        (rows, same_node, np.ones_like(rows), np.zeros_like(rows)),
    ]
    if len(edges):
        by_node = rows[np.argsort(node_of, kind="stable")]
        bounds = np.searchsorted(node_of[by_node], np.arange(int(node_of.max()) + 2))  # -1 first
        for own, other in ((0, 1), (1, 0)):  # both directions of each edge
            counts = bounds[edges[:, own] + 1] - bounds[edges[:, own]]
            edge_index = np.repeat(np.arange(len(edges)), counts)
            starts = np.repeat(bounds[edges[:, own]], counts)
            within = np.arange(len(edge_index)) - np.repeat(np.cumsum(counts) - counts, counts)
            members = by_node[starts + within]
            partners = node_best[edges[edge_index, other]]
            candidates.append((members, partners, np.ones_like(members), edges[edge_index, 2]))
    row, partner, inexact, distance = (np.concatenate(p) for p in zip(*candidates, strict=True))
    valid = rank[partner] < rank[row]
    row, partner, inexact, distance = row[valid], partner[valid], inexact[valid], distance[valid]
    order = np.lexsort((partner, distance, inexact, rank[partner] > 0, row))
    row, partner, inexact, distance = row[order], partner[order], inexact[order], distance[order]
    best = np.concatenate([[True], row[1:] != row[:-1]]) if len(row) else row.astype(bool)
    found = np.zeros(int(best.sum()), dtype=PAIR_DTYPE)
    found["first"], found["second"] = row[best], partner[best]
    found["distance"], found["exact"] = distance[best], inexact[best] == 0
    found["count"] = 1
    return found


def _earliest(keys: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each key value (0..max), its first row of the lowest rank (-1: none); negative
    keys belong to no key."""
    best = np.full(int(keys.max()) + 1 if len(keys) else 0, -1, dtype=np.int64)
    rows = np.flatnonzero(keys >= 0)
    order = rows[np.lexsort((rows, rank[rows], keys[rows]))]
    ordered = keys[order]
    firsts = order[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(order) else order
    best[keys[firsts]] = firsts
    return best


def _pieces(count: int) -> list[tuple[int, int]]:
    """(shift, width) of ``count`` pieces covering 64 bits, widths differing by at most 1."""
    widths = [64 // count + (1 if i < 64 % count else 0) for i in range(count)]
    shifts = np.cumsum([0, *widths[:-1]]).tolist()
    return list(zip(shifts, widths, strict=True))
