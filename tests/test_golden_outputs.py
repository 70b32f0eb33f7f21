"""bench/golden_outputs.py, the before/after output check of the restructuring, still runs its
own cases and still calls two runs of the same code identical (a library change could break
the script, or make an output vary from run to run, unnoticed until the check is needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_dataset, write_image

BENCH = Path(__file__).resolve().parent.parent / "bench"
# A subset that writes every kind of output the fingerprints read: stats JSON, a ZCA sidecar,
# HDF5 with groups (augmentation/*), a PNG tree with its manifest, and the one absolute path.
CASES = "transform_zca,transform_augment_j1,transform_png"


@pytest.fixture
def golden(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import golden_outputs

    return golden_outputs


def test_record_then_check_is_identical(golden, tmp_path, rng, capsys):
    make_dataset(tmp_path / "digits", rng, classes=("0", "1"), per_class=3, shape=(28, 28, 1))
    for index, (height, width) in enumerate([(40, 52), (61, 45)]):
        array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        write_image(tmp_path / "photos" / "ab"[index] / f"{index}.jpg", array, quality=90)
    options = ["--mnist", str(tmp_path / "digits"), "--photos", str(tmp_path / "photos")]
    options += ["--quick", "--cases", CASES, "--parallel", "3"]
    baseline = tmp_path / "baseline.json"

    assert golden.main(["record", str(baseline), *options]) == 0
    assert capsys.readouterr().out == f"recorded 3 runs in {baseline}\n"
    recorded = json.loads(baseline.read_text())
    assert str(tmp_path) not in baseline.read_text()  # inputs copied, scratch path neutralised
    zca = recorded["cases"]["transform_zca"]["files"]
    assert zca["out.h5"]["groups"]["/"]["pipeline"]["json"]["steps"][1]["sidecar"] == (
        "<scratch>/transform_zca/stats.zca.npz"
    )
    augmented = recorded["cases"]["transform_augment_j1"]["files"]["out.h5"]["datasets"]
    assert augmented["images"]["shape"] == [6 * 4, 28, 28, 1]  # --copies 3 --keep-original
    assert "augmentation/theta" in augmented
    png = recorded["cases"]["transform_png"]["files"]
    names = [f"png/{label}/{index:03d}.png" for label in "01" for index in range(3)]
    assert sorted(png) == [*names, "png/imgprep.json"]
    assert png["png/0/000.png"]["shape"] == [16, 16]

    assert golden.main(["check", str(baseline), *options]) == 0
    assert capsys.readouterr().out == "3 runs identical\n"

    # One ulp of one number is reported, with where it is and both values.
    after = copy.deepcopy(recorded)
    mean = after["cases"]["transform_zca"]["files"]["stats.json"]["json"]["mean"]
    before, mean[0] = mean[0], float(np.nextafter(mean[0], np.inf))
    assert golden.compare(recorded, after) == (
        [f"transform_zca: files/stats.json/json/mean[0]: before {before!r} vs after {mean[0]!r}"],
        3,
    )


def test_exact_comparison(golden):
    """Numbers compare by type and bits: 1 vs 1.0, 0.0 vs -0.0 differ; NaN equals NaN."""
    assert not list(
        golden.differences({"a": [1, 0.0, float("nan")]}, {"a": [1, 0.0, float("nan")]})
    )
    assert list(golden.differences([1], [1.0])) == ["[0]: before 1 vs after 1.0"]
    assert list(golden.differences([0.0], [-0.0])) == ["[0]: before 0.0 vs after -0.0"]
    assert list(golden.differences({"a": 1}, {"b": 1})) == [
        "a: missing after (before 1)",
        "b: new after (1)",
    ]
