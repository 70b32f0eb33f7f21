"""ZCA whitening fitted in one streaming, mergeable pass (``fit-stats --zca``).

Accumulated per flattened image x (D = H x W x C values): the count N, the per-pixel sums
S1 = sum x and the second moments S2 = sum x x^T. For 8- and 16-bit pixels every entry of S1
and S2 is an integer below 2^53 while N * max^2 stays below it (any realistic N for 8-bit
data, up to about 2 million images for 16-bit), so float64 matrix products compute them
exactly, whatever the batching or the order of partial results: the whitening matrix is
byte-identical for any ``--workers``. Beyond that bound, or for float pixels, the sums are
ordinary float64 (reported as ``exact: false``).

The fit space is the images after colour, resize and ``rescale`` r: mean = r S1 / N and
covariance = r^2 (S2 - S1 S1^T / N) / N (population, ddof=0). The whitening matrix is
W = U diag(1 / sqrt(s + eps)) U^T from the covariance's eigendecomposition (equal to Keras'
SVD of the symmetric matrix), eps = ``zca_epsilon`` (Keras' default 1e-6). Whitening an image
is (x - mean) @ W: textbook ZCA; Keras instead centres with the per-channel mean only when
``featurewise_center`` is set.

The sidecar file ``<stats>.zca.npz`` holds ``mean`` (D,), ``whitening`` (D, D),
``eigenvalues`` (D, ascending) and ``shape`` (H, W, C); the stats file's ``zca`` object names
it and records its SHA-256, the epsilon, the rescale factor and N.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from imgprep.errors import ImgprepError, InputError

KERAS_ZCA_EPSILON = 1e-6
SHARE_IMAGES = 2048  # images per worker task
BATCH_IMAGES = 256  # images per X^T X product (fixed: float sums must group the same way)
_EXACT_LIMIT = float(2**53)


@dataclass
class ZcaAccumulator:
    """Count, per-pixel sums and second-moment matrix of flattened images of one shape."""

    shape: tuple[int, ...]
    count: int = 0
    sums: np.ndarray | None = None
    moments: np.ndarray | None = None
    largest: float = 0.0
    integer: bool = True

    @property
    def dimension(self) -> int:
        return int(np.prod(self.shape))

    def update(self, images: np.ndarray) -> None:
        """Add a (B, H, W, C) batch of images of this accumulator's shape."""
        if images.shape[1:] != self.shape:
            raise ImgprepError(
                f"ZCA needs images of one shape: {tuple(images.shape[1:])} differs from "
                f"{self.shape}; pass --size"
            )
        flat = images.reshape(len(images), -1).astype(np.float64)
        if self.sums is None:
            self.sums = np.zeros(self.dimension)
            self.moments = np.zeros((self.dimension, self.dimension))
        assert self.moments is not None
        self.sums += flat.sum(axis=0)
        self.moments += flat.T @ flat
        self.count += len(images)
        self.integer = self.integer and images.dtype.kind in "uib"
        self.largest = max(self.largest, float(np.abs(flat).max()) if flat.size else 0.0)

    def merge(self, other: ZcaAccumulator) -> ZcaAccumulator:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        if other.shape != self.shape:
            raise InputError(f"cannot merge ZCA moments of shapes {self.shape} and {other.shape}")
        assert self.sums is not None and self.moments is not None
        assert other.sums is not None and other.moments is not None
        return ZcaAccumulator(
            shape=self.shape,
            count=self.count + other.count,
            sums=self.sums + other.sums,
            moments=self.moments + other.moments,
            largest=max(self.largest, other.largest),
            integer=self.integer and other.integer,
        )

    @property
    def exact(self) -> bool:
        """Whether every sum is an exactly represented integer (see the module docstring)."""
        return self.integer and self.count * self.largest * self.largest < _EXACT_LIMIT

    def fit(self, *, epsilon: float = KERAS_ZCA_EPSILON, rescale: float = 1.0) -> ZcaFit:
        """The mean, eigenvalues and whitening matrix in the rescaled space."""
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise InputError(
                f"--zca-epsilon must be a positive finite number, got {epsilon} (eigenvalues "
                "can be 0, and 1 / sqrt(0) is not a whitening)"
            )
        if self.count == 0 or self.sums is None or self.moments is None:
            raise ImgprepError("no image was accumulated for ZCA")
        n = self.count
        mean = self.sums / n
        covariance = (self.moments - np.outer(self.sums, mean)) / n
        covariance = (covariance + covariance.T) / 2  # exactly symmetric for eigh
        eigenvalues, vectors = np.linalg.eigh(covariance * (rescale * rescale))
        eigenvalues = np.clip(eigenvalues, 0.0, None)  # tiny negative rounding
        whitening = (vectors / np.sqrt(eigenvalues + epsilon)) @ vectors.T
        if not np.isfinite(whitening).all():
            raise ImgprepError("the ZCA whitening matrix is not finite (NaN or infinite pixels?)")
        return ZcaFit(
            shape=self.shape,
            mean=mean * rescale,
            whitening=whitening,
            eigenvalues=eigenvalues,
            epsilon=epsilon,
            rescale=rescale,
            count=n,
            exact=self.exact,
        )


@dataclass
class ZcaFit:
    """A fitted ZCA: apply with ``whiten``; stored as an ``.npz`` sidecar."""

    shape: tuple[int, ...]
    mean: np.ndarray
    whitening: np.ndarray
    eigenvalues: np.ndarray
    epsilon: float
    rescale: float
    count: int
    exact: bool

    def whiten(self, images: np.ndarray) -> np.ndarray:
        """(x - mean) @ W for each image of a (B, H, W, C) batch (already rescaled), float64."""
        flat = images.reshape(len(images), -1).astype(np.float64)
        return ((flat - self.mean) @ self.whitening).reshape(images.shape)

    def save(self, path: str) -> str:
        """Write the sidecar atomically; return its SHA-256."""
        from imgprep.io.atomic import atomic_path

        with atomic_path(path) as temporary:
            digest = self.write(temporary)
        return digest

    def write(self, path: str) -> str:
        """Write the sidecar to ``path`` itself (a temporary name: see ``Stats.save``);
        return its SHA-256. A non-finite array is refused: it would whiten to NaN."""
        for key in ("mean", "whitening", "eigenvalues"):
            if not np.isfinite(getattr(self, key)).all():
                raise ImgprepError(f"the ZCA {key} is not finite (NaN or infinite values)")
        with open(path, "wb") as handle:
            np.savez(
                handle,
                mean=self.mean,
                whitening=self.whitening,
                eigenvalues=self.eigenvalues,
                shape=np.array(self.shape),
            )
        return file_sha256(path)

    def describe(self, sidecar: str, sha256: str) -> dict[str, Any]:
        """The stats file's ``zca`` object."""
        return {
            "file": os.path.basename(sidecar),
            "sha256": sha256,
            "zca_epsilon": self.epsilon,
            "rescale": self.rescale,
            "shape": list(self.shape),
            "dimension": int(np.prod(self.shape)),
            "images": self.count,
            "exact": self.exact,
        }


SIDECAR_KEYS = ("shape", "mean", "whitening", "eigenvalues")
_MEMBER_SLACK = 64 << 10  # bytes of zip and .npy headers allowed beside the arrays


def load_sidecar(path: str, sha256: str, *, shape: tuple[int, ...] | None = None) -> ZcaFit:
    """The sidecar at ``path``, refused when its SHA-256 differs from the recorded one.

    The arrays only: epsilon, rescale and counts live in the stats file (``load_zca``).
    The sidecar may come with a stats file from someone else, so it is read defensively: a
    regular file only (``imgprep.io.bounded``); each member's ``.npy`` header is read first
    and its shape and dtype checked (``shape`` H x W x C, given when the stats file records
    it, then float64 ``mean`` (D,), ``whitening`` (D, D), ``eigenvalues`` (D,)) before any
    matrix data is read, so a small compressed file cannot inflate to gigabytes; no pickle
    is ever loaded; NaN and infinite values are refused. Each problem is one line naming
    the sidecar and the key.
    """
    from imgprep.io.bounded import open_regular_file

    limit = None if shape is None else _sidecar_bytes(int(np.prod(shape))) + _MEMBER_SLACK
    with open_regular_file(path, what="ZCA sidecar", limit=limit) as handle:
        try:
            digest = _stream_sha256(handle)
        except OSError as exc:
            raise InputError(f"cannot read the ZCA sidecar {path}: {exc.strerror or exc}") from None
        if digest != sha256:
            raise ImgprepError(
                f"{path}: checksum differs from the one recorded with the statistics"
            )
        handle.seek(0)
        arrays = _read_sidecar(handle, path, shape)
    return ZcaFit(
        shape=tuple(int(v) for v in arrays["shape"]),
        mean=arrays["mean"],
        whitening=arrays["whitening"],
        eigenvalues=arrays["eigenvalues"],
        epsilon=0.0,
        rescale=1.0,
        count=0,
        exact=True,
    )


def _sidecar_bytes(dimension: int) -> int:
    """Bytes of a sidecar's arrays of dimension D (float64 D x D + 2 D, int64 shape)."""
    return 8 * (dimension * dimension + 2 * dimension + 3)


def _read_sidecar(handle: Any, path: str, shape: tuple[int, ...] | None) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImgprepError(f"{path}: not a ZCA sidecar (not an .npz archive: {exc})") from None
    with archive:
        names = set(archive.namelist())
        for key in SIDECAR_KEYS:
            if f"{key}.npy" not in names:
                raise ImgprepError(
                    f"{path}: key {key!r}: missing (a ZCA sidecar holds {', '.join(SIDECAR_KEYS)})"
                )
        fitted = _read_member(archive, path, "shape", None, "iu")
        if fitted.ndim != 1 or len(fitted) < 1 or (fitted < 1).any():
            raise ImgprepError(f"{path}: key 'shape': {fitted.tolist()} is not an image shape")
        if shape is not None and tuple(fitted.tolist()) != tuple(shape):
            raise ImgprepError(
                f"{path}: key 'shape': {tuple(fitted.tolist())} differs from the statistics' "
                f"image shape {tuple(shape)}"
            )
        dimension = int(np.prod(fitted.astype(object)))  # no int64 overflow
        _check_load_memory(path, dimension)
        arrays = {"shape": fitted}
        for key, expected in (
            ("mean", (dimension,)),
            ("eigenvalues", (dimension,)),
            ("whitening", (dimension, dimension)),
        ):
            arrays[key] = _read_member(archive, path, key, expected, "f")
            if not np.isfinite(arrays[key]).all():
                raise ImgprepError(f"{path}: key {key!r}: not finite (NaN or infinite values)")
        if (arrays["eigenvalues"] < 0).any():
            raise ImgprepError(f"{path}: key 'eigenvalues': negative values")
    return arrays


def _read_member(
    archive: Any, path: str, key: str, expected: tuple[int, ...] | None, kinds: str
) -> np.ndarray:
    """One ``.npy`` member, its header checked before its data is read."""
    from numpy.lib import format as npy

    info = archive.getinfo(f"{key}.npy")
    try:
        with archive.open(info) as member:
            version = npy.read_magic(member)
            if version == (1, 0):
                found, fortran, dtype = npy.read_array_header_1_0(member)
            elif version == (2, 0):
                found, fortran, dtype = npy.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            if dtype.hasobject or dtype.kind not in kinds or (kinds == "f" and dtype.itemsize != 8):
                wanted = "float64" if kinds == "f" else "integers"
                raise ImgprepError(f"{path}: key {key!r}: must be {wanted}, not {dtype}")
            if expected is not None and tuple(found) != expected:
                raise ImgprepError(
                    f"{path}: key {key!r}: shape {tuple(found)}, expected {expected}"
                )
            if expected is None and (len(found) != 1 or found[0] > 8):
                raise ImgprepError(f"{path}: key {key!r}: shape {tuple(found)} is not (H, W, C)")
            nbytes = int(np.prod(found, dtype=object)) * dtype.itemsize
            if info.file_size > nbytes + _MEMBER_SLACK:
                raise ImgprepError(
                    f"{path}: key {key!r}: {info.file_size:,} bytes for a {tuple(found)} array"
                )
            out = np.empty(int(np.prod(found, dtype=object)), dtype=dtype)
            view = memoryview(out).cast("B")
            done = 0
            while done < nbytes:
                block = member.read(min(1 << 24, nbytes - done))
                if not block:
                    raise ValueError("truncated data")
                view[done : done + len(block)] = block
                done += len(block)
    except ImgprepError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as exc:
        raise ImgprepError(f"{path}: key {key!r}: unreadable ({exc})") from None
    return out.reshape(found, order="F" if fortran else "C")


def _check_load_memory(path: str, dimension: int) -> None:
    """Refuse a sidecar whose matrix would need more than half of this machine's memory."""
    try:
        available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    needed = _sidecar_bytes(dimension)
    if needed > available // 2:
        raise ImgprepError(
            f"{path}: key 'shape': a whitening of dimension {dimension:,} needs "
            f"{needed / 2**30:,.1f} GiB, more than half of this machine's memory"
        )


def load_zca(stats_path: str, description: dict[str, Any]) -> ZcaFit:
    """The sidecar named by a stats file's ``zca`` object, checked against its SHA-256.

    The name is resolved only beside the stats file (a bare file name: no folder, no ``..``,
    not absolute), and its arrays are checked against the recorded shape before loading.
    """
    from imgprep.io.bounded import path_beside

    path = path_beside(stats_path, description["file"], what="ZCA sidecar")
    shape = description.get("shape")
    return replace(
        load_sidecar(path, description["sha256"], shape=tuple(shape) if shape else None),
        epsilon=float(description["zca_epsilon"]),
        rescale=float(description["rescale"]),
        count=int(description["images"]),
        exact=bool(description["exact"]),
    )


def zca_sidecar_path(stats_path: str) -> str:
    """``stats.json`` -> ``stats.zca.npz`` (beside it)."""
    stem = stats_path[:-5] if stats_path.lower().endswith(".json") else stats_path
    return stem + ".zca.npz"


def file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return _stream_sha256(handle)


def _stream_sha256(handle: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def memory_needed(dimension: int, workers: int) -> int:
    """Bytes a fit needs: a D x D float64 accumulator per process, plus the eigendecomposition
    (covariance, vectors, whitening and LAPACK's workspace, about four more)."""
    return 8 * dimension * dimension * (workers + 1 + 4)


def check_memory(dimension: int, workers: int, *, available: int | None = None) -> None:
    """Refuse, before allocating, a fit larger than half of this machine's memory."""
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return
    needed = memory_needed(dimension, workers)
    if needed > available // 2:
        raise InputError(
            f"ZCA on {dimension:,} values per image needs about {needed / 2**30:,.1f} GiB "
            f"(D x D float64 matrices), more than half of this machine's "
            f"{available / 2**30:,.1f} GiB; pass a smaller --size (D = width x height x channels)"
        )


@dataclass(frozen=True)
class ZcaTask:
    """A contiguous share of the files for one worker."""

    segments: list[tuple[str, tuple[str, ...]]]
    settings: Any
    shape: tuple[int, ...]


def accumulate_task(task: ZcaTask) -> ZcaAccumulator:
    """Decode a share of the files and accumulate their moments (unreadable files skipped:
    the statistics pass that runs first has already stopped on them or reported them)."""
    from imgprep.errors import DecodeError
    from imgprep.io.decode import bomb_warnings_silenced, decode_file
    from imgprep.io.discover import iter_segments

    accumulator = ZcaAccumulator(shape=task.shape)
    pending: list[np.ndarray] = []
    with bomb_warnings_silenced():
        for path, _ in iter_segments(task.segments):
            try:
                array = decode_file(path, task.settings).array
            except DecodeError:
                continue
            if array.shape == task.shape:
                pending.append(array)
            if len(pending) == BATCH_IMAGES:
                accumulator.update(np.stack(pending))
                pending = []
    if pending:
        accumulator.update(np.stack(pending))
    return accumulator


def compute_zca(
    items: Any,
    settings: Any,
    shape: tuple[int, ...],
    *,
    workers: Any = 1,
    progress: Any = None,
) -> ZcaAccumulator:
    """One pass over ``items`` (an ``ItemList``) accumulating ZCA moments.

    The files are cut into shares of ``SHARE_IMAGES`` consecutive images, each accumulated by
    one worker in batches of ``BATCH_IMAGES`` and merged in input order: integer sums are
    exact anyway, and float sums are grouped the same way for any ``--workers`` and
    ``--batch-size``, so the result never depends on them.
    """
    from imgprep.run.runner import as_runner

    runner = as_runner(workers)

    dimension = int(np.prod(shape))
    # On a cluster this machine holds the running total and one partial at a time.
    check_memory(dimension, 1 if runner.on_cluster else runner.slots)
    size = SHARE_IMAGES  # fixed, not per worker: float sums then group the same way for any -j
    tasks = [
        ZcaTask(items.segments(start, min(start + size, len(items))), settings, shape)
        for start in range(0, len(items), size)
    ]
    total = ZcaAccumulator(shape=shape)
    for task, partial in zip(
        tasks, runner.map_batches(accumulate_task, tasks, desc="zca"), strict=True
    ):
        total = total.merge(partial)
        if progress:
            progress(sum(len(rels) for _, rels in task.segments))
    return total
