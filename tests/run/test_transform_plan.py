"""plan_transform: every refusal before any work (nothing on disk afterwards), the seed it
draws, the statistics it decides on, and the progress total the run then reports."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.augment import AugmentSettings
from imgprep.config import DecodeSettings
from imgprep.errors import InputError
from imgprep.io.stats_io import write_stats
from imgprep.run.stats_pass import compute_stats
from imgprep.run.transform_pass import run_transform
from imgprep.run.transform_plan import TransformRequest, plan_transform, write_preview
from imgprep.transforms.pipeline import Pipeline, PipelineOptions
from tests.conftest import make_dataset

FEATUREWISE = PipelineOptions(center="featurewise", standardize="featurewise")
FLIP = AugmentSettings(horizontal_flip=True)


@pytest.fixture
def data(tmp_path: Path, rng: np.random.Generator) -> Path:
    """train/ (2 classes x 3) and val/ (2 classes x 2): 10 images of 6 x 5 RGB."""
    make_dataset(tmp_path / "d" / "train", rng, per_class=3, shape=(6, 5, 3))
    make_dataset(tmp_path / "d" / "val", rng, per_class=2, shape=(6, 5, 3))
    return tmp_path / "d"


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _refused(root: Path, request: TransformRequest, message: str) -> None:
    """plan_transform raises exactly ``message`` and leaves ``root`` as it was."""
    before = _listing(root)
    with pytest.raises(InputError) as raised:
        plan_transform(request)
    assert raised.value.for_command_line() == message
    assert _listing(root) == before


def test_an_output_inside_the_input_is_refused_before_anything_is_written(data: Path):
    out = data / "train" / "out"
    _refused(
        data.parent,
        TransformRequest(inputs=[str(data)], output=str(out), augment=FLIP, preview="p.png"),
        f"the output folder {out} is inside the input {data}, so a later run would read it "
        "as input; write it elsewhere",
    )


def test_a_preview_onto_an_input_is_refused_before_anything_is_written(data: Path, tmp_path):
    preview = data / "train" / "sheet.png"
    _refused(
        tmp_path,
        TransformRequest(
            inputs=[str(data)], output=str(tmp_path / "o.h5"), augment=FLIP, preview=str(preview)
        ),
        f"the preview file {preview} is inside the input {data}, so a later run would read it "
        "as input; write it elsewhere",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": "{tmp}/missing/o.h5"}, "cannot write {tmp}/missing/o.h5: directory "
         "{tmp}/missing does not exist"),
        ({"output": "{tmp}/o.txt"}, "cannot tell what to write to {tmp}/o.txt: name an HDF5 "
         "file .h5 or .hdf5, or a folder for a PNG tree (or say which with --format)"),
        ({"on_cluster": True, "output": "{tmp}/tree"}, "--engine dask writes HDF5 (shards "
         "joined by virtual datasets); write a PNG tree with --engine local"),
        ({"stats_path": "{tmp}/none.json"}, "stats file not found: {tmp}/none.json"),
        ({"options": PipelineOptions(zca=True)},
         "--zca needs --stats STATS.json written by fit-stats --zca"),
        ({"inputs": [], "named_inputs": [("a", "{data}/train"), ("val", "{data}/val")],
          "augment": AugmentSettings(), "preview": None},
         "featurewise statistics must come from the training part: name one split 'train' "
         "or pass --stats"),
    ],
)  # fmt: skip
def test_each_bad_request_is_refused_with_its_line(data: Path, tmp_path: Path, change, message):
    def fill(value):
        if isinstance(value, str):
            return value.format(tmp=tmp_path, data=data)
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, tuple):
            return tuple(fill(item) for item in value)
        return value

    fields = {"inputs": [str(data)], "output": str(tmp_path / "o.h5"), "options": FEATUREWISE}
    fields.update(preview=str(tmp_path / "p.png"), augment=FLIP, seed=1)  # never written
    fields.update({key: fill(value) for key, value in change.items()})
    _refused(tmp_path, TransformRequest(**fields), fill(message))


def test_statistics_of_another_space_are_refused_before_the_preview(data: Path, tmp_path):
    stats = compute_stats([str(data)], settings=DecodeSettings(color="grayscale"))
    write_stats(stats, str(tmp_path / "gray.json"))
    request = TransformRequest(
        inputs=[str(data)],
        output=str(tmp_path / "o.h5"),
        options=FEATUREWISE,
        stats_path=str(tmp_path / "gray.json"),
        augment=FLIP,
        seed=1,
        preview=str(tmp_path / "p.png"),
    )
    with pytest.raises(InputError, match=r"^the statistics were computed on differently"):
        plan_transform(request)
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "no output given: only a preview_only request writes none"),
        ({"output": "o.h5", "preview_only": True}, "preview_only needs a preview path"),
        ({"output": "o.h5", "copies": 2},
         "copies, keep_original and a preview need an active augmentation setting"),
        ({"output": "o.h5", "batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"output": "o.h5", "on_error": "ignore"},
         "invalid on_error 'ignore': choose stop or skip"),
    ],
)  # fmt: skip
def test_the_request_refuses_contradictions_when_built(fields, message):
    with pytest.raises(InputError) as raised:
        TransformRequest(inputs=["x"], **fields)
    assert raised.value.for_command_line() == message


def test_a_seed_is_drawn_and_recorded_when_augmenting_without_one(data: Path, tmp_path):
    request = TransformRequest(inputs=[str(data)], output=str(tmp_path / "o.h5"), augment=FLIP)
    first, second = plan_transform(request), plan_transform(request)
    assert first.seed_drawn and first.augment is not None and second.augment is not None
    assert 0 <= first.augment.seed < 2**63
    assert first.augment.seed != second.augment.seed  # drawn per plan, 2**-63 to collide
    recorded = first.metadata(Pipeline(PipelineOptions()))["augmentation"]
    assert recorded["seed"] == first.augment.seed and recorded["augmented_splits"] == [""]
    run_transform(first)
    with h5py.File(tmp_path / "o.h5") as handle:
        assert f'"seed": {first.augment.seed}' in handle.attrs["augmentation"]
    given = plan_transform(TransformRequest(inputs=[str(data)], output="o2.h5", augment=FLIP,
                                            seed=7))  # fmt: skip
    assert not given.seed_drawn and given.augment is not None and given.augment.seed == 7


@pytest.mark.parametrize(
    ("options", "on_cluster", "single_pass", "total"),
    [
        (PipelineOptions(), False, False, 10),  # no statistics
        (FEATUREWISE, False, True, 10),  # float32 HDF5: statistics from the writing pass
        (
            dataclasses.replace(FEATUREWISE, dtype="float16"),
            False,
            False,
            10 + 6,
        ),  # a separate pass
        (FEATUREWISE, True, False, 10 + 6),  # on a cluster: a separate pass
    ],
)
def test_the_total_counts_the_separate_statistics_pass(
    data: Path, tmp_path: Path, options, on_cluster, single_pass, total
):
    request = TransformRequest(
        named_inputs=[("train", str(data / "train")), ("val", str(data / "val"))],
        output=str(tmp_path / "o.h5"),
        options=options,
        on_cluster=on_cluster,
    )
    plan = plan_transform(request)
    assert (plan.single_pass, plan.total) == (single_pass, total)
    expected_fit = (0, "the 'train' split") if options.featurewise else (None, "")
    assert (plan.fit_split, plan.fit_label) == expected_fit
    if on_cluster:
        return
    counted: list[int] = []
    report = run_transform(plan, progress=counted.append)
    assert sum(counted) == plan.total
    assert report.found == {"train": 6, "val": 4}


def test_a_stats_file_no_step_uses_is_noted_and_not_applied(data: Path, tmp_path: Path):
    write_stats(compute_stats([str(data)]), str(tmp_path / "s.json"))
    plan = plan_transform(
        TransformRequest(
            inputs=[str(data)], output=str(tmp_path / "o.h5"), stats_path=str(tmp_path / "s.json")
        )
    )
    assert plan.stats_ignored and plan.stats is None and plan.stats_source == ""


def test_a_preview_only_plan_writes_the_preview_and_no_output(data: Path, tmp_path: Path):
    request = TransformRequest(
        inputs=[str(data)], augment=FLIP, seed=3, preview=str(tmp_path / "p.png"),
        preview_only=True, stats_path=str(tmp_path / "none.json"), options=FEATUREWISE,
    )  # fmt: skip
    plan = plan_transform(request)  # the stats file is not read: a preview does not use it
    assert (plan.fmt, plan.total, plan.notes) == (None, 0, ())
    write_preview(plan)
    assert sorted(os.listdir(tmp_path)) == ["d", "p.png"]
    with pytest.raises(InputError, match=r"^this transform plan writes a preview only"):
        run_transform(plan)
