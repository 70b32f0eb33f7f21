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


def augmented(
    image: np.ndarray,
    settings: Any,
    *,
    seed: int,
    split: int,
    key: int,
    epoch: int,
    keep_dtype: bool,
) -> np.ndarray:
    """Copy ``epoch + 1`` of image ``key`` of split ``split``, as ``transform`` writes it.

    ``keep_dtype`` is ``transform``'s rule: True when the run's output is integer (the
    copy is rounded and clipped into the row's dtype), False when a float pipeline follows
    (the copy stays float32 for it)."""
    from imgprep.augment import augment

    array = image if image.ndim == 3 else image[:, :, np.newaxis]
    (params,) = settings.sample(
        seed=seed,
        split=split,
        indices=np.array([key], dtype=np.int64),
        copies=np.array([epoch + 1], dtype=np.int64),
        shape=array.shape,
    )
    out = augment(array, params, settings, keep_dtype=keep_dtype)
    return out if image.ndim == 3 else out[:, :, 0]


def _hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) == 3 else (*shape, 1)
