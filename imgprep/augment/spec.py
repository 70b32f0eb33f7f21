"""What an augmentation operation declares: its options, its recorded columns, its draws.

An operation is one class (a subclass of ``WarpOperation`` or ``PixelOperation``) in a module
of ``imgprep.augment.ops``, listed in that module's ``OPERATIONS`` tuple. Everything else
reads its declarations through ``imgprep.augment.registry``: the command line builds one
option per ``Option``, the TOML parser checks their types, ``AugmentSettings`` has one field
per option and validates it, ``AugmentParams`` has one field per ``Column``, the writers make
one ``augmentation/<name>`` dataset per column, and the preview asks ``caption`` what to show.

Randomness is keyed, not streamed: an operation names the draw slots it reads
(``draw_slots``); the uniform of slot ``s`` for copy ``k`` of image ``i`` is a pure function
of (seed, split, i, k, s) (``imgprep.augment.keyed``). The first release's operations own
slots 1 to 12; a new operation takes ``named_slots(name, count)``, so adding one never moves
another operation's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from imgprep.errors import InputError, option

OPTION_KINDS = ("number", "flag", "range", "choice", "size", "value", "names")
# the warp (one resampling for all warp operations), the crops (they change the copy's size),
# then the pixel operations
STAGES = ("warp", "crop", "pixel")


@dataclass(frozen=True)
class Option:
    """One user-facing setting of an operation.

    Its ``name`` is the ``AugmentSettings`` field; the TOML key is ``key`` (``-`` for ``_``)
    and the command line derives its flag from that key.

    Attributes:
        name: the settings field, e.g. ``rotation_range``.
        kind: ``number`` (a float), ``flag`` (true/false), ``range`` (two numbers LO, HI, or
            None when ``default`` is None), ``choice`` (one of ``choices``), ``size`` (width
            and height, whole numbers >= 1, or None), ``value`` (a number, or one of
            ``choices``: ``--erasing-value 0.5`` or ``random``) or ``names`` (distinct
            words of ``choices``, or None: the chain's ``order``).
        default: the value that leaves images alone (or the documented default).
        help: the one-line help text.
        metavar: how the help shows the value (``DEG``, ``LO,HI``).
        choices: the allowed values of a ``choice``.
        show_default: the help shows the default.
        minimum: a number must be >= it; a range's LO must be >= it (> it with ``exclusive``).
            A number without a minimum must only be finite.
        maximum: a number must be <= it; a range's HI must be <= it.
        exclusive: a range's LO must be strictly above ``minimum``.
        hint: text added to a range's error message.
        around: a range given as one number z means (around - z, around + z) (zoom: 1).
        listed: where the option appears among the others (help, settings, TOML), as first
            released; new options leave it None and come after those, in chain order.
        always_written: ``to_dict`` writes the option even at its default (the first
            release's options). New options are written only when set, so outputs of runs
            that do not use them keep their bytes.
    """

    name: str
    kind: str
    default: Any
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    show_default: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    hint: str = ""
    around: float | None = None
    listed: float | None = None
    always_written: bool = False

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")

    @property
    def key(self) -> str:
        """The TOML key (and, with ``--``, the command-line flag)."""
        return self.name.replace("_", "-")

    @property
    def check_rank(self) -> int:
        """Settings are checked kind by kind, in the order the first release checked them:
        bounded numbers, ranges, choices, other numbers (so a run with two bad values
        reports the same one first)."""
        if self.kind == "number":
            return 0 if self.minimum is not None or self.maximum is not None else 3
        return {"range": 1, "choice": 2, "size": 2, "value": 2, "names": 2, "flag": 4}[self.kind]

    def check(self, value: Any) -> Any:
        """The value, validated and normalized (ranges become float pairs)."""
        if self.kind == "number":
            return self._check_number(value)
        if self.kind == "range":
            return self._check_range(value)
        if self.kind == "size":
            return self._check_size(value)
        if self.kind == "value":
            return value if value in self.choices else self._check_number(float(value))
        if self.kind == "names":
            return self._check_names(value)
        if self.kind == "choice" and value not in self.choices:
            what = self.name.replace("_", " ")
            raise InputError(f"invalid {what} {value!r}: choose {', '.join(self.choices)}")
        return value

    def _check_number(self, value: Any) -> Any:
        low, high = self.minimum, self.maximum
        if low is None and high is None:
            if not math.isfinite(value):
                raise InputError(f"{option(self.key)} must be a finite number, got {value}")
            return value
        bad = not math.isfinite(value) or (low is not None and value < low)
        if bad or (high is not None and value > high):
            if high is None:
                wanted = f">= {low:g}"
            elif low is None:
                wanted = f"<= {high:g}"
            else:
                wanted = f"between {low:g} and {high:g}"
            raise InputError(f"{option(self.key)} must be {wanted}, got {value}")
        return value

    def _check_names(self, value: Any) -> Any:
        if value is None:
            return None
        names = tuple(str(name) for name in value)
        unknown = [name for name in names if name not in self.choices]
        if unknown or len(set(names)) != len(names) or not names:
            what = f"unknown {', '.join(unknown)}" if unknown else "each name once"
            raise InputError(
                f"{option(self.key)}: {what}; name operations of {', '.join(self.choices)}"
            )
        return names

    def _check_size(self, value: Any) -> Any:
        if value is None:
            return None
        width, height = value
        if not all(float(v).is_integer() and v >= 1 for v in (width, height)):
            raise InputError(
                f"{option(self.key)} must be WxH with whole numbers >= 1, got {width}x{height}"
            )
        return (int(width), int(height))

    def _check_range(self, value: Any) -> Any:
        if value is None and self.default is None:
            return None
        low, high = value
        bound = self.minimum
        ok = math.isfinite(low) and math.isfinite(high) and low <= high
        if ok and bound is not None:
            ok = low > bound if self.exclusive else low >= bound
        if ok and self.maximum is not None:
            ok = high <= self.maximum
        if not ok:
            lower = "" if bound is None else f"{bound:g} {'<' if self.exclusive else '<='} "
            upper = "" if self.maximum is None else f" <= {self.maximum:g}"
            raise InputError(
                f"{option(self.key)} must be {lower}LO <= HI{upper}, got {low},{high}{self.hint}"
            )
        return (float(low), float(high))


@dataclass(frozen=True)
class Column:
    """One sampled parameter, recorded per written copy (HDF5 ``augmentation/<name>``).

    ``identity`` is its value when the operation leaves an image alone (and the value of
    copy 0, the original). ``always_recorded`` columns (the first release's) are written for
    every augmented split; a later operation's only when its settings are active, so that
    the outputs of runs that do not use it keep their datasets and bytes.
    """

    name: str
    dtype: str  # "float64", "bool" or fixed-width text "S<bytes>" (ASCII, as NumPy's S)
    identity: float | bool | str
    always_recorded: bool = False

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)


@dataclass(frozen=True)
class Mirror:
    """A warp step that only mirrors: done exactly by indexing, never resampled."""

    vertical: bool = False
    horizontal: bool = False


Coefficients = tuple[float, float, float, float, float, float]
Caption = tuple[int, int, str]  # (line 0 or 1, rank within the line, text) for the preview


class Operation:
    """The declarations every operation makes (see the module docstring).

    ``stage`` and ``order`` place it in the chain: every warp operation's step is composed
    into one resampling, which runs first; pixel operations follow in ``order``. Columns
    are recorded in chain order.
    """

    name: ClassVar[str]
    stage: ClassVar[str]
    order: ClassVar[float]
    options: ClassVar[tuple[Option, ...]] = ()
    columns: ClassVar[tuple[Column, ...]] = ()
    draw_slots: ClassVar[tuple[int, ...]] = ()

    def active(self, settings: Any) -> bool:
        """Whether these settings can change an image."""
        raise NotImplementedError

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        """One array per column (in ``columns`` order) for a batch of copies.

        ``draws`` is (copies, len(draw_slots)): column j holds the uniforms in [0, 1) of slot
        ``draw_slots[j]``. ``shape`` is the images' H x W (x C). Plain numbers only.
        """
        raise NotImplementedError

    def caption(self, params: Any) -> tuple[Caption, ...]:
        """What the preview writes under a copy (nothing by default)."""
        return ()

    def check_channels(self, settings: Any, channels: int) -> None:
        """Refuse (``InputError``) settings this operation cannot apply to images of
        ``channels`` channels, before any work (every channel count is fine by default)."""

    def check_plan(self, settings: Any, size: tuple[int, int] | None) -> None:
        """Refuse (``InputError``) settings that cannot apply with the pipeline's ``--size``
        (``(width, height)``, None without one), before any work."""

    def shape_problem(self, settings: Any, shape: tuple[int, ...]) -> str | None:
        """Why an image of ``shape`` (as the pipeline decodes it) cannot be augmented with
        these settings: a reason for that file (None: it can)."""
        return None


Box = tuple[int, int, int, int]  # (top, left, height, width) in the image it is taken from


class CropOperation(Operation):
    """An operation that takes a region of the warped copy (and may resize it): it changes
    the copy's height and width, so the crops run after the warp and before the pixels.

    Rows that are not augmented (copy 0 with ``--keep-original``, and the splits that are
    not augmented) get ``view``: the deterministic counterpart (a centre crop), so that every
    row of a run has the size the augmented copies have.
    """

    stage: ClassVar[str] = "crop"

    def full_source(self, settings: Any) -> bool:
        """Whether the copies are cut from the decoded image before the pipeline's resize
        (the augmented split is then decoded at full scale)."""
        return False

    def crop(self, image: np.ndarray, params: Any, settings: Any, *, resize: Any) -> np.ndarray:
        """This copy's region of ``image`` (its dtype). ``resize(array, (width, height))``
        resizes as the pipeline's decoding does (Pillow, the run's ``--resample``)."""
        raise NotImplementedError

    def view(self, settings: Any, shape: tuple[int, ...]) -> dict[str, float] | None:
        """The columns of an un-augmented row of an image of ``shape`` (None: no change)."""
        return None

    def changes_view(self, settings: Any) -> bool:
        """Whether ``view`` changes un-augmented rows with these settings (whatever the
        image's shape)."""
        return False

    def size_after(self, settings: Any, shape: tuple[int, ...]) -> tuple[int, int] | None:
        """(height, width) of this operation's output for an input of ``shape`` (None: the
        operation is inactive); raises ``ValueError`` with the reason when it cannot apply."""
        return None


class WarpOperation(Operation):
    """A geometric operation: one step of the copy's single affine resampling."""

    stage: ClassVar[str] = "warp"

    def warp(self, params: Any, height: int, width: int) -> Mirror | Coefficients:
        """This copy's step: a ``Mirror`` (exact; ``Mirror()`` is no change) or coefficients
        (a, b, c, d, e, f): output (r, c) reads input (a r + b c + c0, d r + e c + f0)."""
        raise NotImplementedError


class PixelOperation(Operation):
    """An intensity operation on the warped copy, in float32."""

    stage: ClassVar[str] = "pixel"

    def identity(self, params: Any) -> bool:
        """Whether ``apply`` would leave this copy unchanged (then it is skipped)."""
        raise NotImplementedError

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        """The copy after this operation. ``work`` is the chain's own float32 array: it may
        be changed in place and returned. ``source_dtype`` is the decoded image's dtype."""
        raise NotImplementedError

    def apply_uint8(self, image: np.ndarray, params: Any, settings: Any) -> np.ndarray | None:
        """The copy after this operation alone, computed on a uint8 ``image`` (not changed)
        without the float32 round trip: a new uint8 array EQUAL, bit for bit, to ``apply``
        on its float32 copy followed by the chain's rounding (each kernel is tested so), or
        None when the operation has no such kernel. The chain uses it when this is the
        copy's only pixel operation and the run writes 8-bit rows."""
        return None
