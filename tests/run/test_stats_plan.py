"""plan_stats / run_fit_stats / merge_stats: fit-stats as one library call, checked first."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgprep.errors import InputError
from imgprep.io.stats_io import read_stats, write_stats
from imgprep.run.stats_pass import compute_stats
from imgprep.run.stats_plan import StatsRequest, merge_stats, plan_stats, run_fit_stats
from tests.conftest import make_dataset


@pytest.fixture
def data(tmp_path: Path, rng: np.random.Generator) -> Path:
    make_dataset(tmp_path / "d", rng, per_class=3, shape=(4, 3, 3))
    return tmp_path / "d"


def _pixels(root: Path) -> np.ndarray:
    """Every image's pixels as float64 rows of 3 channels (the independent reference)."""
    arrays = [np.asarray(Image.open(path)) for path in sorted(root.rglob("*.png"))]
    return np.concatenate([a.reshape(-1, 3) for a in arrays]).astype(np.float64)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"zca": True}, "a ZCA fit needs an output stats file: its matrix goes beside it"),
        ({"zca": True, "output": "s.json", "zca_epsilon": 0.0},
         "zca_epsilon must be a positive finite number, got 0.0"),
        ({"rescale": 0.5}, "rescale applies only with zca (statistics stay in pixel units)"),
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"on_error": "retry"}, "invalid on_error 'retry': choose stop or skip"),
    ],
)  # fmt: skip
def test_the_request_refuses_contradictions_when_built(fields, message):
    with pytest.raises(InputError) as raised:
        StatsRequest(inputs=["x"], **fields)
    assert raised.value.for_command_line() == message


def test_an_output_read_as_an_input_is_refused_before_discovery(data: Path):
    out = data / "cat" / "s.png"
    with pytest.raises(InputError) as raised:
        plan_stats(StatsRequest(inputs=[str(data)], output=str(out)))
    assert raised.value.for_command_line() == (
        f"the output file {out} is inside the input {data}, so a later run would read it as "
        "input; write it elsewhere"
    )
    assert not out.exists()


def test_statistics_and_zca_in_two_passes_written_as_a_pair(data: Path, tmp_path: Path):
    events: list[tuple[str, str, int]] = []

    @contextlib.contextmanager
    def progress(total: int, name: str) -> Iterator[Callable[[int], None]]:
        events.append(("start", name, total))
        yield lambda count: events.append(("advance", name, count))
        events.append(("end", name, 0))

    out = tmp_path / "s.json"
    plan = plan_stats(StatsRequest(inputs=[str(data)], output=str(out), zca=True, rescale=0.5))
    assert len(plan.found.items) == 6 and not out.exists()
    report = run_fit_stats(
        plan, progress=progress, on_stats=lambda stats: events.append(("stats", "", stats.images))
    )
    assert [event for event in events if event[0] != "advance"] == [
        ("start", "statistics", 6), ("end", "statistics", 0), ("stats", "", 6),
        ("start", "zca", 6), ("end", "zca", 0),
    ]  # fmt: skip
    for name in ("statistics", "zca"):
        assert sum(count for kind, n, count in events if kind == "advance" and n == name) == 6
    pixels = _pixels(data)
    np.testing.assert_allclose(report.stats.mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(report.stats.std, pixels.std(axis=0), rtol=1e-12)
    assert report.zca is not None and report.zca_path == str(tmp_path / "s.zca.npz")
    assert len(report.zca.mean) == 4 * 3 * 3 and report.zca.count == 6
    stored = json.loads(out.read_text())
    assert stored["zca"]["file"] == "s.zca.npz" and (tmp_path / "s.zca.npz").is_file()


def test_zca_over_images_of_several_shapes_is_refused_after_the_statistics(tmp_path, rng):
    make_dataset(tmp_path / "d", rng, classes=("a",), per_class=2, shape=(4, 3, 3))
    make_dataset(tmp_path / "d", rng, classes=("b",), per_class=2, shape=(5, 3, 3))
    out = tmp_path / "s.json"
    plan = plan_stats(StatsRequest(inputs=[str(tmp_path / "d")], output=str(out), zca=True))
    seen: list[int] = []
    with pytest.raises(InputError) as raised:
        run_fit_stats(plan, on_stats=lambda stats: seen.append(stats.images))
    assert raised.value.for_command_line() == (
        "ZCA needs every image to have one shape; pass --size WxH"
    )
    assert seen == [4] and not out.exists()


def test_merge_gives_the_statistics_of_the_union(data: Path, tmp_path: Path):
    write_stats(compute_stats([str(data / "cat")]), str(tmp_path / "a.json"))
    write_stats(compute_stats([str(data / "dog")]), str(tmp_path / "b.json"))
    out = tmp_path / "m.json"
    merged = merge_stats([str(tmp_path / "a.json"), str(tmp_path / "b.json")], output=str(out))
    assert (merged.files, merged.zca_dropped, merged.stats.images) == (2, False, 6)
    pixels = _pixels(data)
    np.testing.assert_allclose(read_stats(str(out)).mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(merged.stats.std, pixels.std(axis=0), rtol=1e-12)


def test_merge_refuses_one_file_and_an_output_that_is_an_input(tmp_path: Path, data: Path):
    write_stats(compute_stats([str(data / "cat")]), str(tmp_path / "a.json"))
    write_stats(compute_stats([str(data / "dog")]), str(tmp_path / "b.json"))
    with pytest.raises(InputError) as raised:
        merge_stats([str(tmp_path / "a.json")])
    assert raised.value.for_command_line() == "a merge needs at least two stats files, got 1"
    first = tmp_path / "a.json"
    before = first.read_bytes()
    with pytest.raises(InputError) as raised:
        merge_stats([str(first), str(tmp_path / "b.json")], output=str(first))
    assert str(raised.value) == f"the output {first} is the input {first}; write it elsewhere"
    assert first.read_bytes() == before
