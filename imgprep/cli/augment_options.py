"""The augmentation options of ``imgprep transform``: one click option per registered
option (``imgprep.augment.OPTIONS``), parsed by its kind (a range, a size, a number or a
word, a list of names), so that adding an operation adds its flags here without an edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from imgprep.augment import OPTIONS
from imgprep.config import parse_size
from imgprep.errors import InputError

_RANGE_OPTIONS = {option.name: option for option in OPTIONS if option.kind == "range"}
_VALUE_OPTIONS = {option.name: option for option in OPTIONS if option.kind == "value"}


def _range_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``LO,HI`` as a pair of floats, or ``Z`` for ``around - Z, around + Z`` (zoom: 1-Z,1+Z)
    when the option has an ``around``."""
    if value is None:
        return None
    parts = str(value).split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError as exc:
        raise click.BadParameter(f"expected a number or LO,HI, got {value!r}") from exc
    around = _RANGE_OPTIONS[str(param.name)].around
    if len(numbers) == 2:
        return (numbers[0], numbers[1])
    if len(numbers) == 1 and around is not None:
        return (around - numbers[0], around + numbers[0])
    raise click.BadParameter(f"expected {'Z or ' if around is not None else ''}LO,HI")


def _size_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``WxH`` as (width, height); ``W,H`` too (a TOML ``[W, H]`` list arrives so)."""
    if value is None:
        return None
    text = str(value).replace(",", "x")
    try:
        return parse_size(text)
    except InputError as exc:
        raise click.BadParameter(f"expected WxH, got {value!r}") from exc


def _value_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A number, or one of the option's words (``random``)."""
    if value is None:
        return None
    choices = _VALUE_OPTIONS[str(param.name)].choices
    if str(value) in choices:
        return str(value)
    try:
        return float(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"expected a number or {' or '.join(choices)}, got {value!r}"
        ) from exc


def _names_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``a,b,c`` as a tuple of names (checked by the settings)."""
    if value is None:
        return None
    return tuple(name.strip() for name in str(value).split(",") if name.strip())


_CALLBACKS = {
    "range": _range_callback,
    "size": _size_callback,
    "value": _value_callback,
    "names": _names_callback,
}


def augment_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One option per registered augmentation option (``imgprep.augment.OPTIONS``), in its
    listed order: ``--KEY``, a float, a flag, ``LO,HI`` (``_range_callback``), ``WxH``, a
    number or a word (``_value_callback``) or a choice."""
    for option in reversed(OPTIONS):
        extra: dict[str, Any] = {"help": option.help}
        if option.metavar is not None:
            extra["metavar"] = option.metavar
        if option.show_default:
            extra["show_default"] = True
        if option.kind == "flag":
            decorator = click.option(f"--{option.key}", is_flag=True, **extra)
        elif option.kind in _CALLBACKS:
            decorator = click.option(f"--{option.key}", callback=_CALLBACKS[option.kind], **extra)
        else:
            kind = click.Choice(option.choices) if option.kind == "choice" else float
            decorator = click.option(f"--{option.key}", type=kind, default=option.default, **extra)
        func = decorator(func)
    return func
