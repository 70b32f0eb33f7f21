"""Exact and near duplicates among profiled images, and the images that leak across splits.

Input: the profile rows ``inspect`` collects (``imgprep.profile``: an exact pixel digest and a
64-bit perceptual hash per image) and each row's split. Output: ``DuplicateReport``.

- Exact duplicates: rows with the same digest (identical decoded pixels), as groups.
- Near duplicates: images whose perceptual hashes differ in at most ``near`` bits and whose
  pixels are not identical, reported as pairs (distance in bits). Identical hashes are one
  node: a pair of nodes stands for every pair of their images (``count``), so a folder of
  10,000 copies of one blank frame is one node, not 50 million pairs. Nodes within ``near``
  bits are found by multi-index hashing (Norouzi et al. 2012): cut the 64 bits into
  ``near + 1`` pieces; two hashes within ``near`` bits agree exactly on at least one piece
  (pigeonhole), so only hashes sharing a piece are compared, bucket by bucket.
- Leakage: with splits, each image of a later split (``train`` counts first, then the order
  given) that duplicates an image of an earlier one, exactly or within ``near`` bits, with
  its closest such partner. A partner in ``train`` means training data leaked into that
  split (``leaks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from imgprep.profile import hamming

MAX_NEAR = 16  # beyond, the 17 pieces are 3-4 bits and each bucket holds most hashes
TRAIN = "train"


@dataclass(frozen=True)
class Pair:
    """Two rows (positions in the profile table) and their distance in bits."""

    first: int
    second: int
    distance: int
    exact: bool  # identical pixels
    count: int = 1  # image pairs it stands for (identical hashes on either side)


@dataclass
class DuplicateReport:
    """What ``find_duplicates`` found."""

    images: int
    near: int
    exact_groups: list[list[int]] = field(default_factory=list)  # rows, in input order
    near_pairs: list[Pair] = field(default_factory=list)  # not identical pixels
    cross_split: list[Pair] = field(default_factory=list)  # (later row, earlier partner)
    leaks: list[Pair] = field(default_factory=list)  # cross_split with a train partner

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
) -> DuplicateReport:
    """Exact groups, near pairs and cross-split duplicates among n profiled images.

    Args:
        digests: (n,) ``S16`` pixel digests.
        hashes: (n,) ``uint64`` perceptual hashes.
        splits: each row's split name (None: one dataset, no leakage).
        near: the largest Hamming distance of a near pair, 0 to ``MAX_NEAR``.
    """
    if not 0 <= near <= MAX_NEAR:
        raise ValueError(f"near must be in [0, {MAX_NEAR}] bits, not {near}")
    n = len(hashes)
    report = DuplicateReport(images=n, near=near)
    group_of, report.exact_groups = _exact_groups(digests)
    unique, node_of = np.unique(hashes, return_inverse=True)
    node_of = node_of.reshape(-1)
    members = _members(node_of, len(unique))
    edges = _near_edges(unique, near)
    report.near_pairs = _pairs(members, edges, group_of)
    if splits is not None:
        report.cross_split = _cross_split(splits, group_of, node_of, edges)
        report.leaks = [p for p in report.cross_split if splits[p.second] == TRAIN]
    return report


def _exact_groups(digests: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Each row's group (its first row's index) and the groups of two or more rows."""
    n = len(digests)
    group_of = np.arange(n)
    if n == 0:
        return group_of, []
    order = np.argsort(digests, kind="stable")
    ordered = digests[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    stops = np.concatenate([starts[1:], [n]])
    groups = []
    for start, stop in zip(starts, stops, strict=True):
        rows = order[start:stop]  # stable: ascending rows
        group_of[rows] = rows[0]
        if stop - start > 1:
            groups.append(rows.tolist())
    return group_of, sorted(groups)


def _members(node_of: np.ndarray, count: int) -> list[np.ndarray]:
    order = np.argsort(node_of, kind="stable")
    bounds = np.searchsorted(node_of[order], np.arange(count + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


def _near_edges(unique: np.ndarray, near: int) -> dict[int, list[tuple[int, int]]]:
    """For each node, its neighbours within ``near`` bits: {node: [(other, distance)]}."""
    edges: dict[int, list[tuple[int, int]]] = {}
    if near == 0 or len(unique) < 2:
        return edges
    found: set[tuple[int, int]] = set()
    for shift, width in _pieces(near + 1):
        keys = (unique >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        stops = np.concatenate([starts[1:], [len(order)]])
        for start, stop in zip(starts, stops, strict=True):
            if stop - start > 1:
                found.update(_close_in_bucket(unique, order[start:stop], near))
    if found:
        pairs = np.array(sorted(found), dtype=np.int64)
        distances = hamming(unique[pairs[:, 0]], unique[pairs[:, 1]])
        for (a, b), distance in zip(pairs.tolist(), distances.tolist(), strict=True):
            edges.setdefault(a, []).append((b, distance))
            edges.setdefault(b, []).append((a, distance))
    return edges


def _close_in_bucket(unique: np.ndarray, bucket: np.ndarray, near: int) -> list[tuple[int, int]]:
    """Node pairs (smaller first) of one bucket within ``near`` bits, compared in blocks of
    rows so that a large bucket never needs its whole square at once."""
    close: list[tuple[int, int]] = []
    values = unique[bucket]
    block = max(1, (1 << 22) // len(bucket))
    for start in range(0, len(bucket), block):
        distances = hamming(values[start : start + block, None], values[None, :])
        rows, cols = np.nonzero(distances <= near)
        first, second = bucket[start + rows], bucket[cols]
        keep = first < second
        close.extend(zip(first[keep].tolist(), second[keep].tolist(), strict=True))
    return close


def _pairs(
    members: list[np.ndarray], edges: dict[int, list[tuple[int, int]]], group_of: np.ndarray
) -> list[Pair]:
    """Near pairs: within a node, its distinct pixel contents (distance 0); between
    neighbouring nodes, their first images (standing for every pair of their images)."""
    pairs = []
    for rows in members:
        distinct = rows[group_of[rows] == rows]  # one row per pixel content
        for other in distinct[1:].tolist():
            pairs.append(Pair(int(distinct[0]), other, 0, False))
    for node, neighbours in edges.items():
        for other, distance in neighbours:
            if node < other:
                a, b = members[node], members[other]
                first, second = sorted((int(a[0]), int(b[0])))
                pairs.append(Pair(first, second, distance, False, len(a) * len(b)))
    return sorted(pairs, key=lambda p: (p.distance, p.first, p.second))


def _cross_split(
    splits: Sequence[str],
    group_of: np.ndarray,
    node_of: np.ndarray,
    edges: dict[int, list[tuple[int, int]]],
) -> list[Pair]:
    """For each row of a later split, its closest duplicate in an earlier split, as
    Pair(row, partner): a partner in ``train`` first, then an exact one, then the fewest
    bits. Each exact group and each hash node is represented by its member of the earliest
    split (its first row there), so a group of 10,000 copies costs one lookup per row."""
    names = list(dict.fromkeys(splits))
    order = {name: (0 if name == TRAIN else 1 + names.index(name)) for name in names}
    rank = np.array([order[name] for name in splits], dtype=np.int64)
    group_first = _earliest(group_of, rank)
    node_first = _earliest(node_of, rank)
    found = []
    for row in range(len(splits)):
        own = rank[row]
        options = []
        partner = group_first.get(int(group_of[row]))
        if partner is not None and rank[partner] < own:
            options.append((rank[partner] > 0, False, 0, partner))
        node = int(node_of[row])
        for other, distance in [(node, 0), *edges.get(node, [])]:
            partner = node_first.get(other)
            if partner is not None and rank[partner] < own:
                options.append((rank[partner] > 0, True, distance, partner))
        if options:
            _, inexact, distance, partner = min(options)
            found.append(Pair(row, int(partner), int(distance), not inexact))
    return found


def _earliest(keys: np.ndarray, rank: np.ndarray) -> dict[int, int]:
    """{key: its first row of the lowest rank}."""
    order = np.lexsort((np.arange(len(keys)), rank, keys))
    ordered = keys[order]
    firsts = order[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(keys) else order
    return {int(keys[row]): int(row) for row in firsts}


def _pieces(count: int) -> list[tuple[int, int]]:
    """(shift, width) of ``count`` pieces covering 64 bits, widths differing by at most 1."""
    widths = [64 // count + (1 if i < 64 % count else 0) for i in range(count)]
    shifts = np.cumsum([0, *widths[:-1]]).tolist()
    return list(zip(shifts, widths, strict=True))
