"""Random augmentation with Keras' ``ImageDataGenerator`` meaning, keyed per image and copy.

One module per operation family in ``imgprep.augment.ops`` (``geometric``: rotation, shifts,
shear, zoom and flips as one affine warp; ``intensity``: channel shift and brightness;
``crop``: random resized crop and random crop; ``colour``: tf.image's brightness, contrast,
saturation, hue and grayscale; ``degrade``: Gaussian blur, Gaussian noise, JPEG re-encoding;
``erasing``: random erasing); each
operation declares its options, recorded columns and draw slots (``spec``), and the
``registry`` collects them for the command line, the config parser, the writers and the
preview. ``settings`` builds ``AugmentSettings`` and ``AugmentParams`` from the registry,
``chain.augment`` applies one copy's parameters (one ``warpAffine`` per copy, ``warp``), and
``recorded.apply_recorded`` makes a written row again from its recorded parameters, and
``keyed`` makes the random numbers: the parameters of copy ``k`` of image ``i`` are a pure
function of ``(seed, split, i, k)``, so they do not depend on workers, batch size or order.
The contact sheet of ``--preview`` is ``imgprep.augment.preview`` (imported on demand: it
needs Pillow and the decoder).
"""

from imgprep.augment.chain import augment, view
from imgprep.augment.keyed import uniform_draws
from imgprep.augment.ops.geometric import affine_coefficients, affine_matrix
from imgprep.augment.recorded import apply_recorded
from imgprep.augment.registry import (
    OPERATIONS,
    OPTIONS,
    PARAMETER_NAMES,
    params_columns,
    recorded_columns,
)
from imgprep.augment.settings import AugmentParams, AugmentSettings
from imgprep.augment.warp import FILL_MODES, warp

__all__ = [
    "FILL_MODES",
    "OPERATIONS",
    "OPTIONS",
    "PARAMETER_NAMES",
    "AugmentParams",
    "AugmentSettings",
    "affine_coefficients",
    "affine_matrix",
    "apply_recorded",
    "augment",
    "params_columns",
    "recorded_columns",
    "uniform_draws",
    "view",
    "warp",
]
