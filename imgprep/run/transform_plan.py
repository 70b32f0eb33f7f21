"""A transform run as data: what is asked (``TransformRequest``), what was checked and
decided before any work (``TransformPlan``, from ``plan_transform``), what was written
(``TransformReport``).

Why a plan: a run that cannot succeed must be refused in a second, with one line, before a
preview sheet, a scratch file or a row is written, and each rule must be checked once. So
``plan_transform`` does every check that reads no image (the splits, the output's format,
its folder, the output rules of ``imgprep.plan``, the preview's path, the stats file and its
space), and decides what the run needs from them (the augmentation seed, drawn here when
none is given, so the caller can show it; where the featurewise statistics come from; the
progress total). The pass (``imgprep.run.transform_pass.run_transform``) takes the plan and
only reads the first image for its own pre-flight (dtype, room on the disk) before work.

Nothing here knows the command line: the request holds values, and the command line maps
its options to them and its words onto what the plan reports.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imgprep.augment import AugmentSettings
from imgprep.errors import InputError, option
from imgprep.groups import GroupRule
from imgprep.io.atomic import check_writable
from imgprep.io.formats.registry import check_format, output_format, writer_class, writes_folder
from imgprep.io.stats_io import read_stats
from imgprep.plan import check_output, check_preview
from imgprep.run.checks import check_stats_space, plan_output
from imgprep.run.policy import ErrorPolicy
from imgprep.run.worker import AugmentPlan
from imgprep.splits import (
    Split,
    augmented_splits,
    build_splits,
    shuffled_splits,
    training_split,
)
from imgprep.stats.file import Stats
from imgprep.transforms.pipeline import Pipeline, PipelineOptions


@dataclass(frozen=True, kw_only=True)
class TransformRequest:
    """What a transform is asked to do, as values (the command line's options map to these).

    Attributes:
        output: the HDF5 file or PNG folder to write; None only with ``preview_only``.
        inputs: folders, files and URLs of one input (``imgprep.io.discover``).
        named_inputs: ``(name, path)`` pairs, one split each (instead of ``inputs``).
        split_spec: ``(name, fraction)`` pairs: a stratified split of ``inputs``.
        groups: with ``split_spec``, keep each group whole in one split
            (``imgprep.groups``).
        seed: of the split and of the augmentation (drawn by the plan when augmenting
            without one).
        options: the pipeline (decoding, rescale, centre, standardize, ZCA, dtype).
        augment: the augmentation; inactive (the default) for none.
        copies: augmented copies written per image.
        keep_original: also write each image unchanged (copy 0).
        fmt: the output format by name (``imgprep.io.formats``); None: the one ``output``
            names.
        compression: HDF5 compression of images.
        overwrite: an existing PNG tree written by imgprep may be replaced.
        stats_path: a stats file for the featurewise and ZCA steps.
        allow_mismatch: apply statistics of another pre-processing space.
        preview: a PNG contact sheet of sources and copies to write first (``write_preview``).
        preview_only: write the preview and nothing else.
        batch_size: files per task (default: ``imgprep.run.tasks.default_batch_size``).
        on_error: ``stop`` or ``skip`` (``imgprep.run.policy``).
        on_cluster: the run goes to a Dask cluster (it writes HDF5 shards only).
        single_pass: computed statistics may come from the writing pass itself when the
            format holds raw rows (same bytes; False forces a separate pass, for tests).
        shuffle: write each split's images in a permuted order keyed by ``seed``
            (``imgprep.splits.shuffled_splits``; HDF5 only, which records it per row).
    """

    output: str | None = None
    inputs: Sequence[str] = ()
    named_inputs: Sequence[tuple[str, str]] = ()
    split_spec: Sequence[tuple[str, float]] | None = None
    seed: int | None = None
    groups: GroupRule | None = None
    options: PipelineOptions = field(default_factory=PipelineOptions)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    copies: int = 1
    keep_original: bool = False
    fmt: str | None = None
    compression: str = "none"
    overwrite: bool = False
    stats_path: str | None = None
    allow_mismatch: bool = False
    preview: str | None = None
    preview_only: bool = False
    batch_size: int | None = None
    on_error: str = "stop"
    on_cluster: bool = False
    single_pass: bool = True
    shuffle: bool = False

    def __post_init__(self) -> None:
        # tuples: a frozen request holds no list a caller could change after the checks
        for name in ("inputs", "named_inputs"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.split_spec is not None:
            object.__setattr__(self, "split_spec", tuple(self.split_spec))
        if self.output is None and not self.preview_only:
            raise InputError("no output given: only a preview_only request writes none")
        if self.preview_only and not self.preview:
            raise InputError("preview_only needs a preview path")
        wants_copies = self.copies > 1 or self.keep_original or self.preview
        if wants_copies and not self.augment.active:
            raise InputError(
                "copies, keep_original and a preview need an active augmentation setting"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {self.batch_size}")
        ErrorPolicy(self.on_error)  # a bad on_error is refused here, not after the checks


@dataclass(frozen=True)
class TransformPlan:
    """A request checked and decided, before any work (built by ``plan_transform`` only).

    Attributes:
        request: what was asked.
        splits: the splits to write, their files discovered.
        fmt: the output format; None for a preview only.
        augment: the augmentation plan (its seed given or drawn), None without.
        augmented: which splits are augmented (the single input, or ``train``).
        seed_drawn: the augmentation seed was drawn here, none being given: the caller
            should show ``augment.seed`` so that the run can be repeated.
        png_names: for a PNG tree, per split, the tree names of files given one by one.
        stats: the stats file's statistics when a step uses them, else None.
        stats_ignored: a stats file was given but no step uses it.
        fit_split: the split whose statistics are computed (featurewise steps without a
            stats file), else None; ``fit_label`` names it ("this input", "the 'train'
            split").
        single_pass: the computed statistics come from the writing pass itself.
        notes: what discovery noted, each once, in order.
        total: files the run reports to ``progress``: every split once, and the statistics
            split once more when a separate pass computes its statistics.
    """

    request: TransformRequest
    splits: list[Split]
    fmt: str | None
    augment: AugmentPlan | None = None
    augmented: frozenset[int] = frozenset()
    seed_drawn: bool = False
    png_names: list[dict[str, str]] = field(default_factory=list)
    stats: Stats | None = None
    stats_ignored: bool = False
    fit_split: int | None = None
    fit_label: str = ""
    single_pass: bool = False
    notes: tuple[str, ...] = ()
    total: int = 0

    @property
    def stats_source(self) -> str:
        """Where the statistics come from, as the output records it ("" when none apply)."""
        if not self.request.options.needs_stats:
            return ""
        return "stats file" if self.stats is not None else f"computed from {self.fit_label}"

    def split_plan(self, ordinal: int) -> AugmentPlan | None:
        """Split ``ordinal``'s augmentation: the run's, when the split is augmented."""
        return self.augment if ordinal in self.augmented else None

    def shown(self, ordinal: int) -> AugmentSettings | None:
        """The augmentation whose view the rows of split ``ordinal`` get when it is not
        augmented but the run's augmentation changes un-augmented rows (a centre crop)."""
        run = self.augment
        if ordinal in self.augmented or run is None or not run.settings.changes_view:
            return None
        return run.settings

    def metadata(self, pipeline: Pipeline) -> dict[str, Any]:
        """The output's attributes: classes, splits, pipeline, statistics, augmentation."""
        splits = self.splits
        metadata: dict[str, Any] = {
            "class_names": splits[0].discovery.classes if splits else [],
            "splits": [split.name for split in splits if split.name is not None],
            "pipeline": pipeline.describe(),
            "stats": pipeline.stats.to_dict() if pipeline.stats is not None else None,
            "stats_source": self.stats_source,
        }
        if self.request.shuffle:  # each row's position before shuffling: ``permutation``
            metadata["shuffle"] = {"seed": self.request.seed, "column": "permutation"}
        if self.augment is not None:
            metadata["augmentation"] = {
                **self.augment.to_dict(),
                "augmented_splits": [splits[i].name or "" for i in sorted(self.augmented)],
            }
        return metadata


@dataclass
class TransformReport:
    """What was written: per split, images written and files skipped; the stats used."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    stats: Stats | None = None
    stats_source: str = ""
    shards: int = 0  # on a Dask cluster: shards in the output, and how many were reused
    reused: int = 0

    def processed(self, key: str) -> int:
        """Source images written (once each, whatever the number of copies)."""
        return self.found[key] - len(self.skipped[key])


def single_pass_applies(fmt: str, options: PipelineOptions) -> bool:
    """Whether computed statistics come from the writing pass itself (float32 HDF5 holds the
    raw rows exactly) rather than from a separate statistics pass."""
    return writer_class(fmt).holds_raw_rows and options.dtype in ("auto", "float32")


def plan_transform(request: TransformRequest) -> TransformPlan:
    """Check everything a transform needs that reads no image, in this order, and decide
    what it will do; nothing is written.

    The splits (discovery, named inputs that overlap, the stratified split); the channels
    the augmentation needs, when the decode ``color`` fixes them (saturation, hue and
    grayscale need colour); the augmentation seed (drawn when none is given) and the split
    it applies to; the output's format (once: the pass and the writer take it from the
    plan), whether the pipeline and the engine can write it, its folder, the output rules
    (``imgprep.plan``); the preview's path (never onto an input). A preview-only plan stops
    there. Then the stats file (read and checked against the run's pre-processing space),
    or the training split whose statistics the run computes, and ZCA's need of a fitted
    stats file.

    Raises:
        InputError: the first refusal, naming the path or value (nothing written).
        ImgprepError: an unreadable stats file.
    """
    options = request.options
    splits = build_splits(
        list(request.inputs),
        list(request.named_inputs),
        request.split_spec,
        request.seed,
        request.groups,
    )
    if request.shuffle:
        if request.seed is None or request.seed < 0:
            raise InputError(
                f"{option('shuffle')} needs {option('seed')} (an integer >= 0) so that the "
                "order can be reproduced"
            )
        splits = shuffled_splits(splits, request.seed)
    augment: AugmentPlan | None = None
    augmented: frozenset[int] = frozenset()
    drawn = False
    if request.augment.active:
        channels = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(options.decode.color)
        if channels is not None:  # saturation, hue, grayscale need colour
            request.augment.check_channels(channels)
        request.augment.check_plan(options.decode.size)  # crops against --size
        seed = request.seed
        if seed is None:
            seed, drawn = secrets.randbits(63), True
        augment = AugmentPlan(request.augment, request.copies, request.keep_original, seed)
        augmented = frozenset(augmented_splits(splits))
    fmt: str | None = None
    names: list[dict[str, str]] = []
    if not request.preview_only:
        assert request.output is not None  # the request refuses it otherwise
        fmt = output_format(request.output, request.fmt)
        check_format(fmt, options, on_cluster=request.on_cluster)
        if request.shuffle and not writer_class(fmt).records_order:
            shown = "a PNG tree" if fmt == "png" else f"the {fmt} format"
            raise InputError(
                f"{option('shuffle')} orders the rows of an HDF5 file; {shown} has no row order"
            )
        check_writable(request.output, directory_ok=writes_folder(fmt))
        names = plan_output(
            splits, request.output, fmt=fmt, overwrite=request.overwrite, plan=augment
        )
    if request.preview:
        inputs = [source for split in splits for source in split.discovery.inputs]
        check_output(request.preview, inputs, what="the preview")
        if fmt is not None and request.output is not None:
            check_preview(request.preview, request.output, folder=writes_folder(fmt))
    planned = TransformPlan(request, splits, fmt, augment, augmented, drawn, names)
    if fmt is None:
        return planned
    given = read_stats(request.stats_path) if request.stats_path else None
    stats = given if options.needs_stats else None
    fit_split, fit_label = None, ""
    if options.featurewise and stats is None:
        fit_split, fit_label = training_split(splits)
    if options.zca and (stats is None or not stats.zca):
        raise InputError(
            f"{option('zca')} needs {option('stats')} "
            f"STATS.json written by fit-stats {option('zca')}"
        )
    if stats is not None:
        check_stats_space(stats, options, allow_mismatch=request.allow_mismatch)
    single = (
        fit_split is not None
        and request.single_pass
        and not request.on_cluster
        and single_pass_applies(fmt, options)
    )
    total = sum(len(split.discovery.items) for split in splits)
    if fit_split is not None and not single:
        total += len(splits[fit_split].discovery.items)  # the separate statistics pass
    return TransformPlan(
        request,
        splits,
        fmt,
        augment,
        augmented,
        drawn,
        names,
        stats=stats,
        stats_ignored=given is not None and not options.needs_stats,
        fit_split=fit_split,
        fit_label=fit_label,
        single_pass=single,
        notes=tuple(dict.fromkeys(note for split in splits for note in split.discovery.notes)),
        total=total,
    )


def write_preview(plan: TransformPlan) -> None:
    """Write the plan's preview sheet (the augmented split's first sources and their copies,
    as decoded and augmented, before normalization) to ``request.preview``.

    Raises:
        InputError: the plan has no preview to write.
    """
    from imgprep.augment.preview import write_preview as write_sheet

    path = plan.request.preview
    if path is None or plan.augment is None:
        raise InputError("this transform plan has no preview to write")
    decode = plan.request.options.decode
    write_sheet(path, plan.splits, plan.augment, decode=decode, split=min(plan.augmented))
