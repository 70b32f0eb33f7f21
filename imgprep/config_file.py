"""Config files: the one reader of TOML pipelines and the one parser of their keys.

``load_config`` reads a file (a regular file of at most 1 MiB of UTF-8 TOML), refuses unknown
keys and values of the wrong TOML type, and resolves a relative ``stats`` path beside the file.
``pipeline_options`` turns the pipeline keys of such a mapping into ``PipelineOptions``:
``imgprep transform --config`` (with its command-line options laid over the file's) and
``imgprep.pipeline_from_config`` both go through it, so the two cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from imgprep.config import (
    BIT_DEPTHS,
    COLOR_MODES,
    EXIF_MODES,
    NORMALIZE_MODES,
    OPTION_OF_KEY,
    OUTPUT_DTYPES,
    RESAMPLE_FILTERS,
    RESIZE_BACKENDS,
    RESIZE_MODES,
    STATS_SCOPES,
    PipelineOptions,
    finite,
    parse_clip,
    parse_rescale,
    parse_size,
)
from imgprep.errors import InputError
from imgprep.values import shown

PIPELINE_KEYS = (
    "color", "size", "resize-mode", "resample", "pad-value", "exif", "jpeg-draft", "rescale",
    "center", "standardize", "stats-scope", "epsilon", "dtype", "stats", "zca", "bit-depth",
    "clip-percentiles", "resize-backend",
)  # fmt: skip
RUN_KEYS = (
    "allow-stats-mismatch", "format", "compression", "split", "seed", "workers", "batch-size",
    "on-error", "quiet", "overwrite", "shuffle", "group-by", "groups",
)  # fmt: skip
# The augmentation plan's keys; each operation's keys (and their kinds) come from
# imgprep.augment.registry, read when a config is loaded (not at import: fit-stats and
# inspect never load the augmentation code).
AUGMENT_PLAN_KEYS = ("copies", "keep-original", "preview")


def config_keys() -> tuple[str, ...]:
    """Every key a TOML pipeline may hold: the pipeline's, the run's and augmentation's."""
    from imgprep.augment.registry import option_keys

    return PIPELINE_KEYS + RUN_KEYS + option_keys() + AUGMENT_PLAN_KEYS


def load_config(path: str) -> dict[str, object]:
    """Read a TOML pipeline; keys are the ``transform`` option names without ``--``.

    A relative ``stats`` path is resolved against the config file's folder. An unknown key is
    an error that names it and suggests the closest valid key; a key of the wrong TOML type
    (``stats = 5``, ``zca = "yes"``) is an error that names it. Only a regular file of at most
    1 MiB of UTF-8 text is read (``imgprep.io.bounded``): a FIFO or a device given as a config
    is refused instead of blocking or filling memory.
    """
    import difflib

    from imgprep.io.bounded import CONFIG_LIMIT, read_regular_file

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    raw = read_regular_file(path, limit=CONFIG_LIMIT, what="config file")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not a TOML config (not UTF-8 text: byte 0x{raw[exc.start]:02x} at "
            f"offset {exc.start})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML ({exc})") from exc
    except RecursionError:
        raise InputError(f"{path}: invalid TOML (nested too deeply)") from None
    from imgprep.augment.registry import OPTIONS

    keys = config_keys()
    for key in data:
        if key not in keys:
            close = difflib.get_close_matches(key.replace("_", "-"), keys, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{path}: unknown key {key!r}{hint}")
    augment_kinds = {option.key: option.kind for option in OPTIONS}
    for key, value in data.items():
        _check_config_type(path, key, value, augment_kinds.get(key))
    for key in ("stats", "groups"):  # files named in a config: beside it
        named = data.get(key)
        if isinstance(named, str) and not os.path.isabs(named):
            data[key] = os.path.join(os.path.dirname(os.path.abspath(path)), named)
    return data


_TEXT_KEYS = frozenset({
    "color", "resize-mode", "resample", "exif", "center", "standardize", "stats-scope", "dtype",
    "format", "compression", "on-error", "preview", "group-by",
})  # fmt: skip
_FLAG_KEYS = frozenset({
    "jpeg-draft", "zca", "allow-stats-mismatch", "quiet", "overwrite", "keep-original",
    "shuffle",
})  # fmt: skip
_INTEGER_KEYS = frozenset({"seed", "workers", "batch-size", "copies", "bit-depth"})
_NUMBER_KEYS = frozenset({"pad-value", "epsilon"})


def _check_config_type(path: str, key: str, value: object, augment_kind: str | None) -> None:
    """Refuse a value whose TOML type cannot be meant (``stats = 5`` is not a path).

    ``augment_kind`` is the kind of an augmentation option's key (number, flag, range or
    choice, as its operation declares it), None for other keys.
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key in ("stats", "groups"):
        ok, wanted = isinstance(value, str), "a file path (a string)"
    elif key in _TEXT_KEYS or augment_kind == "choice":
        ok, wanted = isinstance(value, str), "a string"
    elif key in _FLAG_KEYS or augment_kind == "flag":
        ok, wanted = isinstance(value, bool), "true or false"
    elif key in _INTEGER_KEYS:  # "7" too: the command line's parser converts it, as before
        ok = (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
        wanted = "an integer"
    elif key == "split":  # "train=0.8,val=0.2" or ["train=0.8", "val=0.2"]
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        wanted = 'a string "NAME=F,..." or a list of "NAME=F" strings'
    elif key in _NUMBER_KEYS or augment_kind == "number":
        ok, wanted = number, "a number"
    elif key == "clip-percentiles":
        ok = isinstance(value, str) or (
            isinstance(value, list)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )
        wanted = 'a string "LO,HI" or [LO, HI]'
    elif key == "rescale":
        ok, wanted = number or isinstance(value, str), 'a number or a fraction such as "1/255"'
    elif key == "size" or augment_kind == "size":
        ok = isinstance(value, str) or (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
        wanted = 'a string "WxH" or [width, height]'
    elif augment_kind == "names":
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        wanted = 'a list of operation names or a string "a,b,c"'
    elif augment_kind == "value":
        ok, wanted = number or isinstance(value, str), 'a number or a word such as "random"'
    elif augment_kind == "range":  # a number, "LO,HI" or [LO, HI]
        ok = (
            number
            or isinstance(value, str)
            or (
                isinstance(value, list)
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            )
        )
        wanted = "a number or [LO, HI]"
    else:  # checked where it is used
        return
    if not ok:
        raise InputError(f"{path}: key {key!r} must be {wanted}, got {shown(value)}")


def pipeline_options(data: Mapping[str, Any], *, source: str | None = None) -> PipelineOptions:
    """PipelineOptions from config-file keys (``color``, ``resize-mode``, ``rescale``, ...).

    Keys that are not pipeline options (``stats``, run and augmentation keys) are ignored;
    missing keys take the defaults.

    Raises:
        InputError: a value of the wrong type or out of its choices, naming the key (and
            ``source``, the config file, when given); or options that do not go together.
    """
    return PipelineOptions.from_fields(pipeline_fields(data, source=source))


def pipeline_fields(data: Mapping[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """The pipeline keys of ``data`` as ``PipelineOptions`` / ``DecodeSettings`` field values,
    each parsed as the command line parses its option (``size = "8x6"`` or ``[8, 6]``,
    ``rescale = "1/255"``, ``bit-depth = "8"`` or ``8``); other keys are left out."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        parse = _PARSERS.get(key)
        if parse is None:
            continue
        try:
            values[OPTION_OF_KEY[key]] = parse(key, value)
        except InputError as exc:
            if source is None:
                raise
            raise InputError(f"{source}: key {key!r}: {exc.marked}") from None
    return values


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InputError(f"invalid {key} {shown(value)}: expected a name")
        if value not in choices:
            name = OPTION_OF_KEY[key]
            raise InputError(f"invalid {name} {value!r}: choose one of {', '.join(choices)}")
        return value

    return parse


def _size(key: str, value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        return parse_size(value)
    if isinstance(value, list | tuple):
        if len(value) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise InputError(f"invalid size {shown(value)}: expected [width, height]")
        width, height = int(value[0]), int(value[1])
        if width < 1 or height < 1:
            raise InputError(f"invalid size {width}x{height}: width and height must be at least 1")
        return width, height
    raise InputError(f"invalid size {shown(value)}: expected WxH or [width, height]")


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"invalid {key} {shown(value)}: expected true or false")
    return value


def _bit_depth(key: str, value: Any) -> int:
    """8 or 16, also as text (the command line's ``--bit-depth 8``)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in BIT_DEPTHS:
        raise InputError(f"invalid bit_depth {shown(value)}: choose 8 or 16")
    return value


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "color": _choice(COLOR_MODES),
    "size": _size,
    "resize-mode": _choice(RESIZE_MODES),
    "resample": _choice(RESAMPLE_FILTERS),
    "pad-value": finite,
    "exif": _choice(EXIF_MODES),
    "jpeg-draft": _flag,
    "resize-backend": _choice(RESIZE_BACKENDS),
    "bit-depth": _bit_depth,
    "rescale": lambda key, value: parse_rescale(value),
    "center": _choice(NORMALIZE_MODES),
    "standardize": _choice(NORMALIZE_MODES),
    "stats-scope": _choice(STATS_SCOPES),
    "epsilon": finite,
    "dtype": _choice(OUTPUT_DTYPES),
    "zca": _flag,
    "clip-percentiles": lambda key, value: parse_clip(value),
}
