"""``fit-stats --merge`` refuses one file given twice; many inputs are recorded as a count
and a few examples, not copied path by path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from imgprep.io.stats_io import read_stats
from tests.conftest import write_image


@pytest.fixture
def parts(tmp_path: Path, rng) -> tuple[Path, Path]:
    """Two stats files over disjoint folders of 3 grey 4x4 images each."""
    files = []
    for name in ("a", "b"):
        for index in range(3):
            image = rng.integers(0, 256, (4, 4, 1), dtype=np.uint8)
            write_image(tmp_path / name / f"{index}.png", image)
        stats = tmp_path / f"{name}.json"
        result = CliRunner().invoke(
            main, ["fit-stats", str(tmp_path / name), "-q", "-o", str(stats)]
        )
        assert result.exit_code == 0, result.output
        files.append(stats)
    return files[0], files[1]


def merge(*paths: Path | str):
    return CliRunner().invoke(main, ["fit-stats", "--merge", *map(str, paths), "-q"])


def test_the_same_file_twice_is_refused(parts):
    a, b = parts
    assert json.loads(merge(a, b).stdout)["images"] == 6
    result = merge(a, b, a)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {a} is given twice: merging a stats file with itself would count its images "
        "twice\n"
    )


def test_the_same_file_under_another_name_is_refused(parts, tmp_path: Path):
    a, b = parts
    link = tmp_path / "link.json"
    os.symlink(a, link)
    result = merge(a, b, link)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {a} and {link} are one file: merging a stats file with itself would count its "
        "images twice\n"
    )


def test_many_inputs_are_a_count_and_examples(tmp_path: Path, rng):
    paths = []
    for index in range(25):
        image = rng.integers(0, 256, (3, 3, 1), dtype=np.uint8)
        paths.append(str(write_image(tmp_path / "d" / f"{index:02d}.png", image)))
    stats = tmp_path / "s.json"
    result = CliRunner().invoke(
        main, ["fit-stats", "-", "-q", "-o", str(stats)], input="\n".join(paths) + "\n"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(stats.read_text())
    assert data["inputs"] == {"count": 25, "examples": paths[:5]}
    assert data["provenance"]["files"] == 25 and len(data["provenance"]["files_sha256"]) == 64
    loaded = read_stats(str(stats))
    assert loaded.input_total == 25 and loaded.inputs == paths[:5]
    assert loaded.to_json() == stats.read_text()  # the summary loads and is written again
    merged = loaded.merge(read_stats(str(_few(tmp_path, paths))))
    assert merged.to_dict()["inputs"] == {"count": 27, "examples": paths[:5]}


def _few(tmp_path: Path, paths: list[str]) -> Path:
    """A stats file over two inputs: its ``inputs`` stays the list given."""
    other = tmp_path / "few"
    for name in ("x", "y"):
        write_image(other / name / "0.png", np.full((3, 3, 1), 7, dtype=np.uint8))
    stats = tmp_path / "few.json"
    args = ["fit-stats", str(other / "x"), str(other / "y"), "-q", "-o", str(stats)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert json.loads(stats.read_text())["inputs"] == [str(other / "x"), str(other / "y")]
    return stats
