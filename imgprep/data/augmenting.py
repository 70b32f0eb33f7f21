"""On-the-fly augmentation of stored rows, keyed exactly as ``imgprep transform --copies``.

Row ``i`` of epoch ``e`` gets the parameters ``transform --copies K --seed S`` gives copy
``e + 1`` of image ``i`` of that split: ``AugmentSettings.sample`` keyed by (seed, split
ordinal, i, e + 1), then ``imgprep.augment.augment`` with the same ``keep_dtype`` rule
(integer rows stay integers, rounded and clipped as ``transform`` writes them). So epoch
``e``'s image is byte for byte the offline copy ``e + 1`` (tested against a real run), for
any number of workers, batch size, shuffling or rank split: nothing depends on call order.

Augmentation needs the pixels as decoded. A file whose rows went through float steps
(rescale, centring, standardization, ZCA) stores normalized values, on which a brightness
factor or a clip to 0-255 means something else: such a file is refused, with one line saying
to write integer rows (``transform`` without those steps); normalize after augmenting with
``normalize=`` (a ``Pipeline``, e.g. ``imgprep.pipeline_from_config``) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imgprep.data.source import SplitSource, stored_settings
from imgprep.errors import InputError

Augment = Mapping[str, Any] | str | Any | None


def resolve_settings(augment: Augment, source: SplitSource) -> tuple[Any, int | None]:
    """``augment`` as ``AugmentSettings`` (None: no augmentation) and the stored seed (for
    ``"stored"``, else None).

    ``augment`` is None, an ``AugmentSettings``, a table of its options (TOML keys
    ``rotation-range`` or Python names ``rotation_range``; ranges as two numbers), or
    ``"stored"``: the settings in the file's ``augmentation`` attribute.
    """
    from imgprep.augment import AugmentSettings

    if augment is None:
        return None, None
    seed = None
    if isinstance(augment, str):
        if augment != "stored":
            raise InputError(
                f"augment must be 'stored', a table of options or AugmentSettings, not {augment!r}"
            )
        settings, seed = stored_settings(source)
    elif isinstance(augment, AugmentSettings):
        settings = augment
    elif isinstance(augment, Mapping):
        settings = AugmentSettings.from_dict({k.replace("-", "_"): v for k, v in augment.items()})
    else:
        raise InputError(
            f"augment must be 'stored', a table of options or AugmentSettings, "
            f"not {type(augment).__name__}"
        )
    if not settings.active:
        return None, seed
    check_source(settings, source)
    return settings, seed


def check_source(settings: Any, source: SplitSource) -> None:
    """Refuse (one ``InputError`` line) rows these settings cannot augment exactly."""
    if source.normalized:
        steps = ", ".join(str(step.get("step")) for step in source.pipeline.get("steps", []))
        raise InputError(
            f"{source.path}: its rows are normalized ({steps}); on-the-fly augmentation needs "
            "the stored pixels: write uint8 or uint16 rows (imgprep transform without rescale "
            "or normalization) and pass normalize= a pipeline instead"
        )
    if settings.full_source:
        raise InputError(
            f"{source.path}: a random resized crop is cut from the full-size decoded image, "
            "which the file does not hold; use random_crop instead"
        )
    channels = source.shape[2] if len(source.shape) == 3 else 1
    settings.check_channels(channels)
    problem = settings.shape_problem(_hwc(source.shape))
    if problem is not None:
        raise InputError(f"{source.path}: {problem}")


PARAMS_WINDOW = 256  # items whose parameters are sampled together
PARAMS_WINDOWS_KEPT = 4


class KeyedParams:
    """The parameters of an epoch's items, sampled a window of ``PARAMS_WINDOW`` items at a
    time: ``AugmentSettings.sample`` costs about 200 us per call and 20 us per row in a
    batch, and a DataLoader worker reads consecutive items. The values are those of one
    call per item (each row's draws depend on its own key only), so the window changes no
    pixel; at most ``PARAMS_WINDOWS_KEPT`` windows are kept, per process.
    """

    def __init__(self, settings: Any, *, seed: int, split: int, shape: tuple[int, ...]) -> None:
        self.settings = settings
        self.seed = seed
        self.split = split
        self.shape = _hwc(shape)
        self._windows: dict[tuple[int, int], list[Any]] = {}

    def get(self, item: int, keys: np.ndarray, epoch: int) -> Any:
        """Parameters of item ``item`` of the epoch whose augmentation keys, item by item,
        are ``keys`` (copy ``epoch + 1``)."""
        number, offset = divmod(item, PARAMS_WINDOW)
        window = self._windows.get((epoch, number))
        if window is None:
            chosen = keys[number * PARAMS_WINDOW : (number + 1) * PARAMS_WINDOW]
            window = self.settings.sample(
                seed=self.seed,
                split=self.split,
                indices=np.asarray(chosen, dtype=np.int64),
                copies=np.full(len(chosen), epoch + 1, dtype=np.int64),
                shape=self.shape,
            )
            if len(self._windows) >= PARAMS_WINDOWS_KEPT:
                self._windows.pop(next(iter(self._windows)))
            self._windows[(epoch, number)] = window
        return window[offset]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_windows": {}}


def augmented(image: np.ndarray, params: Any, settings: Any, *, keep_dtype: bool) -> np.ndarray:
    """One copy of ``image`` with ``params``, as ``transform`` writes it.

    ``keep_dtype`` is ``transform``'s rule: True when the run's output is integer (the
    copy is rounded and clipped into the row's dtype), False when a float pipeline follows
    (the copy stays float32 for it)."""
    from imgprep.augment import augment

    array = image if image.ndim == 3 else image[:, :, np.newaxis]
    out = augment(array, params, settings, keep_dtype=keep_dtype)
    return out if image.ndim == 3 else out[:, :, 0]


def _hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) == 3 else (*shape, 1)
