"""The ZCA sidecar ``<stats>.zca.npz``: written beside a stats file, read back checked.

It holds ``mean`` (D,), ``whitening`` (D, D), ``eigenvalues`` (D, ascending) and ``shape``
(H, W, C) as ``.npy`` members; the stats file's ``zca`` object (``ZcaFit.describe``) names it
and records its SHA-256, the epsilon, the rescale factor and N. The arithmetic is
``imgprep.stats.zca``; this module is the file: its bytes, its checksum, and the defensive
read (a sidecar may come with a stats file from someone else).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.lib import format as npy

from imgprep.errors import ImgprepError, InputError
from imgprep.io.atomic import atomic_path
from imgprep.io.bounded import open_regular_file, path_beside
from imgprep.stats.zca import ZcaFit

SIDECAR_KEYS = ("shape", "mean", "whitening", "eigenvalues")
_MEMBER_SLACK = 64 << 10  # bytes of zip and .npy headers allowed beside the arrays


def zca_sidecar_path(stats_path: str) -> str:
    """``stats.json`` -> ``stats.zca.npz`` (beside it)."""
    stem = stats_path[:-5] if stats_path.lower().endswith(".json") else stats_path
    return stem + ".zca.npz"


def write_sidecar(fit: ZcaFit, path: str) -> str:
    """Write the sidecar atomically (a failure leaves no file under ``path``); return its
    SHA-256."""
    with atomic_path(path) as temporary:
        digest = write_sidecar_to(fit, temporary)
    return digest


def write_sidecar_to(fit: ZcaFit, path: str) -> str:
    """Write the sidecar to ``path`` itself (a temporary name: see ``write_stats``); return
    its SHA-256. A non-finite array is refused: it would whiten to NaN."""
    for key in ("mean", "whitening", "eigenvalues"):
        if not np.isfinite(getattr(fit, key)).all():
            raise ImgprepError(f"the ZCA {key} is not finite (NaN or infinite values)")
    with open(path, "wb") as handle:
        np.savez(
            handle,
            mean=fit.mean,
            whitening=fit.whitening,
            eigenvalues=fit.eigenvalues,
            shape=np.array(fit.shape),
        )
    return file_sha256(path)


def read_zca(stats_path: str, description: dict[str, Any]) -> ZcaFit:
    """The sidecar named by a stats file's ``zca`` object, checked against its SHA-256.

    The name is resolved only beside the stats file (a bare file name: no folder, no ``..``,
    not absolute), and its arrays are checked against the recorded shape before loading.
    """
    path = path_beside(stats_path, description["file"], what="ZCA sidecar")
    shape = description.get("shape")
    return replace(
        read_sidecar(path, description["sha256"], shape=tuple(shape) if shape else None),
        epsilon=float(description["zca_epsilon"]),
        rescale=float(description["rescale"]),
        count=int(description["images"]),
        exact=bool(description["exact"]),
    )


def read_sidecar(path: str, sha256: str, *, shape: tuple[int, ...] | None = None) -> ZcaFit:
    """The sidecar at ``path``, refused when its SHA-256 differs from the recorded one.

    The arrays only: epsilon, rescale and counts live in the stats file (``read_zca``).
    The sidecar may come with a stats file from someone else, so it is read defensively: a
    regular file only (``imgprep.io.bounded``); each member's ``.npy`` header is read first
    and its shape and dtype checked (``shape`` H x W x C, given when the stats file records
    it, then float64 ``mean`` (D,), ``whitening`` (D, D), ``eigenvalues`` (D,)) before any
    matrix data is read, so a small compressed file cannot inflate to gigabytes; no pickle
    is ever loaded; NaN and infinite values are refused. Each problem is one line naming
    the sidecar and the key.
    """
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
        arrays = _read_arrays(handle, path, shape)
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


def _read_arrays(handle: Any, path: str, shape: tuple[int, ...] | None) -> dict[str, np.ndarray]:
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


def file_sha256(path: str) -> str:
    """The SHA-256 of a file, read in blocks (the sidecar can be gigabytes)."""
    with open(path, "rb") as handle:
        return _stream_sha256(handle)


def _stream_sha256(handle: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
