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

This module is the arithmetic only. The pass over the files that feeds ``update`` is
``imgprep.run.zca_pass``; the sidecar file ``<stats>.zca.npz`` that stores a ``ZcaFit`` is
``imgprep.io.zca_sidecar``, named by the stats file's ``zca`` object (``ZcaFit.describe``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgprep.errors import ImgprepError, InputError, option

KERAS_ZCA_EPSILON = 1e-6
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
                f"{self.shape}; pass {option('size')}"
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
                f"{option('zca-epsilon')} must be a positive "
                f"finite number, got {epsilon} (eigenvalues "
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
    """A fitted ZCA: apply with ``whiten``; stored as an ``.npz`` sidecar
    (``imgprep.io.zca_sidecar``)."""

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

    def describe(self, file_name: str, sha256: str) -> dict[str, Any]:
        """The stats file's ``zca`` object, naming the sidecar ``file_name`` beside it."""
        return {
            "file": file_name,
            "sha256": sha256,
            "zca_epsilon": self.epsilon,
            "rescale": self.rescale,
            "shape": list(self.shape),
            "dimension": int(np.prod(self.shape)),
            "images": self.count,
            "exact": self.exact,
        }
