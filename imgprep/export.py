"""Statistics as the arguments of other libraries' normalization layers, on their scales.

- torchvision ``transforms.Normalize(mean, std)`` runs after ``ToTensor()`` (or
  ``v2.ToDtype(torch.float32, scale=True)``), which maps pixels to 0-1: mean and std are
  divided by the pixel range's maximum (255 for 8-bit, 65535 for 16-bit images).
- Keras ``layers.Normalization(mean=..., variance=...)`` sees the pixels as the model gets
  them; ``image_dataset_from_directory`` yields 0-255 floats, so the raw scale is used and
  the variance is the squared std (population, as Keras' own ``adapt``).
- albumentations ``Normalize(mean, std, max_pixel_value)`` computes
  ``(img - mean * max_pixel_value) / (std * max_pixel_value)``: mean and std on the 0-1
  scale with ``max_pixel_value`` the pixel range's maximum.
"""

from __future__ import annotations

from typing import Any

from imgprep.errors import InputError
from imgprep.stats.file import Stats

FRAMEWORKS = ("torchvision", "keras", "albumentations")


def pixel_max(stats: Stats) -> float:
    """The maximum of the pixel range the statistics were computed on."""
    return {"uint8": 255.0, "uint16": 65535.0}.get(stats.dtype, 1.0)


def normalization_args(stats: Stats, framework: str, *, scope: str = "channel") -> dict[str, Any]:
    """Keyword arguments for ``framework``'s normalization, per channel or global."""
    if framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}: choose {', '.join(FRAMEWORKS)}")
    if scope == "channel":
        mean, std = stats.mean.tolist(), stats.std.tolist()
    elif scope == "global":
        mean, std = [stats.global_mean], [stats.global_std]
    else:
        raise InputError(f"invalid scope {scope!r}: choose channel or global")
    top = pixel_max(stats)
    if framework == "torchvision":
        return {"mean": [m / top for m in mean], "std": [s / top for s in std]}
    if framework == "keras":
        return {"mean": mean, "variance": [s * s for s in std]}
    return {
        "mean": [m / top for m in mean],
        "std": [s / top for s in std],
        "max_pixel_value": top,
    }


def normalization_code(stats: Stats, framework: str, *, scope: str = "channel") -> str:
    """One line of Python constructing ``framework``'s normalization."""
    args = normalization_args(stats, framework, scope=scope)
    call = {
        "torchvision": "torchvision.transforms.Normalize",
        "keras": "keras.layers.Normalization",
        "albumentations": "albumentations.Normalize",
    }[framework]
    text = ", ".join(f"{key}={_literal(value)}" for key, value in args.items())
    return f"{call}({text})"


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(repr(float(v)) for v in value) + "]"
    return repr(value)
