"""Pipeline steps: frozen dataclasses over the kernels of ``functional``, and their registry.

Each step holds the explicit numbers of one kernel call (a factor, a mean, a scope) and is
applied with ``step(image)``. ``STEP_TYPES`` lists them in the documented order (percentile
clip, rescale, samplewise centre, samplewise standardize, ZCA, featurewise centre,
featurewise standardize); ``build_steps`` asks each type, in that order, whether the
options select it (``from_options``), so adding a step is one class here plus its entry in
``STEP_TYPES``. ``params()`` is what the pipeline records for the step (an HDF5 output's
``pipeline`` attribute); ``type(step)(**step.params())`` rebuilds it.

Nothing here reads a file: the ZCA step gets its matrix from a ``WhiteningSource`` made by
the file-facing layer (``imgprep.api.zca_whitening``), which loads the sidecar lazily in the
process that applies the step, so the D x D matrix never travels with a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from imgprep.errors import ImgprepError, InputError, option
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.moments import histogram_moments
from imgprep.transforms import functional as F

if TYPE_CHECKING:
    from imgprep.config import PipelineOptions
    from imgprep.stats.file import Stats


class Whitening(Protocol):
    """A fitted ZCA (``imgprep.stats.zca.ZcaFit`` is one): per-pixel mean (D,), matrix (D, D)."""

    shape: tuple[int, ...]
    mean: np.ndarray
    whitening: np.ndarray


class WhiteningSource(Protocol):
    """Where a ZCA step gets its fitted arrays, on first use in each process.

    ``path`` is the sidecar the arrays come from, recorded with the step.
    """

    path: str

    def load(self) -> Whitening: ...


@dataclass(frozen=True)
class FittedWhitening:
    """A ``WhiteningSource`` over arrays already in memory (tests; a fit made in Python).

    Pickled with every task that carries the step: fine for small images only.
    """

    fit: Whitening
    path: str = "<in memory>"

    def load(self) -> Whitening:
        return self.fit


class _Step:
    """What every step shares: its recorded parameters."""

    name: ClassVar[str]

    def params(self) -> dict[str, Any]:
        """The step's parameters (JSON-ready), as recorded in an output's ``pipeline``."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)  # type: ignore[arg-type]
            if not f.metadata.get("runtime")
        }


@dataclass(frozen=True)
class ClipPercentiles(_Step):
    """Clip each channel to [low, high]: the training set's exact ``percentiles`` (robust
    normalization: a few saturated or dead pixels no longer stretch the range). First of all
    steps, on the decoded pixels; the dtype is kept."""

    name: ClassVar[str] = "clip_percentiles"
    percentiles: tuple[float, float]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _check_channels(image, self.low, "clip bound")
        low, high = np.array(self.low), np.array(self.high)
        if image.dtype.kind in "iu":  # integer bounds of integer pixels: exact in the dtype
            info = np.iinfo(image.dtype)  # bounds beyond it clip nothing there (no wrap)
            low = np.clip(low, info.min, info.max).astype(image.dtype)
            high = np.clip(high, info.min, info.max).astype(image.dtype)
        return np.clip(image, low, high)

    def apply_inplace(self, work: np.ndarray) -> None:
        _check_channels(work, self.low, "clip bound")
        np.clip(work, np.array(self.low), np.array(self.high), out=work)

    @classmethod
    def from_options(cls, options: PipelineOptions, fitted: Fitted) -> ClipPercentiles | None:
        if options.clip_percentiles is None or fitted.stats is None:
            return None
        low, high = clip_bounds(options.clip_percentiles, fitted.stats)
        return cls(options.clip_percentiles, tuple(map(float, low)), tuple(map(float, high)))


@dataclass(frozen=True)
class Rescale(_Step):
    """Multiply by ``factor``."""

    name: ClassVar[str] = "rescale"
    factor: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return F.rescale(image, factor=self.factor)

    def apply_inplace(self, work: np.ndarray) -> None:
        np.multiply(work, self.factor, out=work)

    @classmethod
    def from_options(cls, options: PipelineOptions, fitted: Fitted) -> Rescale | None:
        return None if options.rescale is None else cls(float(options.rescale))


@dataclass(frozen=True)
class SamplewiseCenter(_Step):
    """Subtract the image's own mean (``global``: all channels, as Keras)."""

    name: ClassVar[str] = "samplewise_center"
    scope: str

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return F.center(image, mean=F.image_mean(image, scope=self.scope))

    @classmethod
    def from_options(cls, options: PipelineOptions, fitted: Fitted) -> SamplewiseCenter | None:
        return cls(options.scope("samplewise")) if options.center == "samplewise" else None


@dataclass(frozen=True)
class SamplewiseStandardize(_Step):
    """Divide by the image's own std + epsilon."""

    name: ClassVar[str] = "samplewise_standardize"
    scope: str
    epsilon: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        std = F.image_std(image, scope=self.scope)
        return F.standardize(image, std=std, epsilon=self.epsilon)

    @classmethod
    def from_options(cls, options: PipelineOptions, fitted: Fitted) -> SamplewiseStandardize | None:
        if options.standardize != "samplewise":
            return None
        return cls(options.scope("samplewise"), options.epsilon)


@dataclass(frozen=True)
class ZcaWhiten(_Step):
    """(x - per-pixel mean) @ W on the flattened image, W from a ``fit-stats --zca`` sidecar.

    The step records the sidecar's path and SHA-256, not the D x D matrix; ``source`` (not a
    parameter) loads the matrix once per process, instead of it travelling with every batch.
    """

    name: ClassVar[str] = "zca"
    sidecar: str
    sha256: str
    zca_epsilon: float
    dimension: int
    shape: tuple[int, ...] = ()
    # not a parameter: left out of ``params`` and of equality
    source: WhiteningSource | None = field(
        default=None, compare=False, repr=False, metadata={"runtime": True}
    )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.source is None:
            raise ImgprepError(f"the ZCA step of {self.sidecar} has no whitening source")
        fit = self.source.load()
        if tuple(image.shape) != tuple(self.shape or fit.shape):
            fitted = "x".join(str(v) for v in (self.shape or fit.shape))
            raise InputError(
                f"ZCA was fitted on {fitted} (HxWxC) images, this one is "
                f"{'x'.join(str(v) for v in image.shape)}; pass "
                f"{option('size')} and {option('color')} as for fit-stats"
            )
        flat = image.reshape(-1).astype(np.float64)
        return ((flat - fit.mean) @ fit.whitening).reshape(image.shape)

    @classmethod
    def from_options(cls, options: PipelineOptions, fitted: Fitted) -> ZcaWhiten | None:
        """The ZCA step of a stats file fitted with ``fit-stats --zca`` at the same rescale."""
        if not options.zca:
            return None
        stats = fitted.stats
        described = stats.zca if stats is not None else None
        if not described:
            raise InputError(
                f"{option('zca')} needs {option('stats')} "
                f"STATS.json written by fit-stats {option('zca')}"
            )
        fitted_rescale = float(described["rescale"])
        wanted = 1.0 if options.rescale is None else float(options.rescale)
        if not np.isclose(fitted_rescale, wanted, rtol=1e-12, atol=0):
            raise InputError(
                f"ZCA was fitted with {option('rescale')} "
                f"{fitted_rescale:g}; pass the same {option('rescale')} "
                f"(got {wanted:g})"
            )
        if fitted.whitening is None:
            raise ImgprepError(
                "the ZCA step needs its whitening source (imgprep.api.zca_whitening)"
            )
        return cls(
            sidecar=fitted.whitening.path,
            sha256=str(described["sha256"]),
            zca_epsilon=float(described["zca_epsilon"]),
            dimension=int(described["dimension"]),
            shape=tuple(int(v) for v in described["shape"]),
            source=fitted.whitening,
        )


@dataclass(frozen=True)
class FeaturewiseCenter(_Step):
    """Subtract the dataset mean (one value, or one per channel)."""

    name: ClassVar[str] = "featurewise_center"
    mean: tuple[float, ...]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _check_channels(image, self.mean, "mean")
        return F.center(image, mean=np.array(self.mean))

    def apply_inplace(self, work: np.ndarray) -> None:
        _check_channels(work, self.mean, "mean")
        np.subtract(work, np.array(self.mean), out=work)

    @classmethod
    def from_options(cls, options: PipelineOptions, fitted: Fitted) -> FeaturewiseCenter | None:
        if options.center != "featurewise" or fitted.stats is None:
            return None
        mean, _ = _dataset_moments(options, fitted.stats)
        return cls(tuple((mean * _factor(options)).tolist()))


@dataclass(frozen=True)
class FeaturewiseStandardize(_Step):
    """Divide by the dataset std + epsilon (one value, or one per channel)."""

    name: ClassVar[str] = "featurewise_standardize"
    std: tuple[float, ...]
    epsilon: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _check_channels(image, self.std, "std")
        return F.standardize(image, std=np.array(self.std), epsilon=self.epsilon)

    def apply_inplace(self, work: np.ndarray) -> None:
        _check_channels(work, self.std, "std")
        np.divide(work, np.array(self.std, dtype=np.float64) + self.epsilon, out=work)

    @classmethod
    def from_options(
        cls, options: PipelineOptions, fitted: Fitted
    ) -> FeaturewiseStandardize | None:
        if options.standardize != "featurewise" or fitted.stats is None:
            return None
        _, std = _dataset_moments(options, fitted.stats)
        return cls(tuple((std * abs(_factor(options))).tolist()), options.epsilon)


Step = (
    ClipPercentiles
    | Rescale
    | SamplewiseCenter
    | SamplewiseStandardize
    | ZcaWhiten
    | FeaturewiseCenter
    | FeaturewiseStandardize
)

STEP_TYPES: dict[str, type[Step]] = {
    step.name: step
    for step in (
        ClipPercentiles,
        Rescale,
        SamplewiseCenter,
        SamplewiseStandardize,
        ZcaWhiten,
        FeaturewiseCenter,
        FeaturewiseStandardize,
    )
}
# Steps that act on each value alone: a stacked batch gives the numbers of each image alone.
ELEMENTWISE = (ClipPercentiles, Rescale, FeaturewiseCenter, FeaturewiseStandardize)


@dataclass(frozen=True)
class Fitted:
    """What a pipeline's steps are fitted with: the statistics, and the ZCA matrix's source."""

    stats: Stats | None = None
    whitening: WhiteningSource | None = None


def build_steps(
    options: PipelineOptions, stats: Stats | None, whitening: WhiteningSource | None = None
) -> list[Step]:
    """The concrete steps, in ``STEP_TYPES`` order, with featurewise numbers scaled into the
    rescaled space."""
    fitted = Fitted(stats, whitening)
    built = (step_type.from_options(options, fitted) for step_type in STEP_TYPES.values())
    return [step for step in built if step is not None]


def _factor(options: PipelineOptions) -> float:
    return 1.0 if options.rescale is None else float(options.rescale)


def clip_bounds(percentiles: tuple[float, float], stats: Stats) -> tuple[list[int], list[int]]:
    """Each channel's exact ``percentiles`` of the statistics' pixels (low, high).

    Raises:
        InputError: statistics without a histogram (float pixels, a version 1 file).
    """
    histogram = stats.accumulator.histogram
    if histogram is None:
        raise InputError(
            f"{option('clip-percentiles')} needs the exact histogram of the statistics: "
            "8- or 16-bit pixels, and a stats file of format version 2 (run fit-stats again)"
        )
    per_channel, _ = histogram.percentiles(percentiles)
    return [row[0] for row in per_channel], [row[1] for row in per_channel]


def _dataset_moments(options: PipelineOptions, stats: Stats) -> tuple[np.ndarray, np.ndarray]:
    """The stats' mean and std per channel, or their global values (``stats_scope``); with
    ``clip_percentiles``, those of the clipped pixels, exactly (from the clipped histogram)."""
    accumulator = stats.accumulator
    if options.clip_percentiles is not None:
        low, high = clip_bounds(options.clip_percentiles, stats)
        assert accumulator.histogram is not None  # clip_bounds refuses stats without one
        clipped = accumulator.histogram.clipped(low, high)
        accumulator = MomentAccumulator()
        accumulator.add(histogram_moments(clipped, images=stats.images))
    if options.scope("featurewise") == "channel":
        channel = accumulator.channel_stats()
        return channel["mean"], channel["std"]
    whole = accumulator.global_stats()
    return np.array([whole["mean"]]), np.array([whole["std"]])


def _check_channels(image: np.ndarray, values: tuple[float, ...], what: str) -> None:
    if len(values) not in (1, image.shape[-1]):
        raise ImgprepError(
            f"featurewise {what} has {len(values)} channel(s) but the image has "
            f"{image.shape[-1]}; compute the stats with the same {option('color')}"
        )
