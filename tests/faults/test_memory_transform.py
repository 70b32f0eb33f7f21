"""Memory of ``transform`` is bounded on hostile inputs (issue 12, section 4).

Each case runs ``imgprep transform`` in a child process and reads the child's peak RSS
from ``os.wait4`` (the largest resident set of the child, or of any process it waited
for), then checks it against the budget that ``imgprep.run.transform_pass`` documents, with the
size of the largest output row of the case. The inputs are scaled down to run in about
a second each; the old code took 3 to 9 times the budget on each of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from imgprep.cli import main

MIB = 1 << 20


_BASE: list[int] = []


def budget(workers: int, row_bytes: int) -> int:
    """``imgprep.run.transform_pass``'s rule: (2 x workers + 2) x max(16 MiB, one row) + the base,
    where the base (100 MiB in the docstring: interpreter and libraries) is measured here,
    as the peak RSS of transforming one 8 x 8 image: a fresh virtual environment's newer
    wheels were seen to take up to 90 MiB more than this machine's."""
    if not _BASE:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            (folder / "one").mkdir()
            _png(folder / "one" / "a.png", np.zeros((8, 8, 3), np.uint8))
            code, _, rss = peak_rss(
                ["transform", str(folder / "one"), "-o", str(folder / "o.h5"), "-q"], folder
            )
            assert code == 0
            _BASE.append(max(100 * MIB, rss))
    return (2 * workers + 2) * max(16 * MIB, row_bytes) + _BASE[0]


def peak_rss(args: list[str], tmp_path: Path) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in bytes) of ``python -m imgprep ARGS``."""
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as handle:
        child = subprocess.Popen(
            [sys.executable, "-m", "imgprep", *args], stdout=subprocess.DEVNULL, stderr=handle
        )
    timer = threading.Timer(120, child.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, err.read_text(), usage.ru_maxrss * 1024


def _png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path, compress_level=1)


def test_a_png_tree_of_large_images_holds_one_per_task(tmp_path: Path):
    """16 RGBA images of 1200 x 1200 (5.8 MB decoded each, a few kB on disk) were 64 to a
    task: all of them decoded and stacked at once."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for index in range(16):
        array = np.full((1200, 1200, 4), 255, np.uint8)
        array[index, index, 0] = 7
        _png(tree / f"{index:02d}.png", array)
    code, stderr, rss = peak_rss(
        ["transform", str(tree), "-o", str(tmp_path / "out"), "-q"], tmp_path
    )
    assert (code, stderr) == (0, "")
    assert rss < budget(1, 1200 * 1200 * 4), f"{rss / MIB:.0f} MiB"
    written = np.asarray(Image.open(tmp_path / "out" / "05.png"))
    assert written.shape == (1200, 1200, 4) and written[5, 5, 0] == 7


def test_hdf5_rows_that_change_size_stop_the_task_at_the_first(tmp_path: Path):
    """One 8 x 8 image sets the rows' size; the 24 1500 x 1500 images after it were all
    decoded (1,024 to a task) before the writer refused the first of them."""
    root = tmp_path / "mixed"
    root.mkdir()
    _png(root / "000.png", np.zeros((8, 8, 3), np.uint8))
    for index in range(1, 25):
        _png(root / f"{index:03d}.png", np.full((1500, 1500, 3), index, np.uint8))
    code, stderr, rss = peak_rss(
        ["transform", str(root), "-o", str(tmp_path / "o.h5"), "-q"], tmp_path
    )
    assert code == 2
    assert stderr == (
        "Error: images differ in shape: 000.png is 8x8x3 (HxWxC) but 001.png is 1500x1500x3 "
        "(HxWxC); pass --size WxH to resize them to one size\n"
    )
    assert rss < budget(1, 1500 * 1500 * 3), f"{rss / MIB:.0f} MiB"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "one"
    root.mkdir()
    rng = np.random.default_rng(3)
    _png(root / "x.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return root


def test_many_copies_of_a_small_image_are_written_in_pieces(tiny: Path, tmp_path: Path):
    """30,000 copies of an 8 x 8 image were one task of 30,000 rows (each with its
    parameters as Python objects) in HDF5 chunks of one row: 320 MB."""
    out = tmp_path / "o.h5"
    args = ["transform", str(tiny), "-o", str(out), "-q", "--horizontal-flip"]
    code, stderr, rss = peak_rss([*args, "--copies", "30000", "--seed", "1"], tmp_path)
    assert (code, stderr) == (0, "")
    assert rss < budget(1, 8 * 8 * 3), f"{rss / MIB:.0f} MiB"
    with h5py.File(out) as handle:
        assert handle["images"].shape == (30000, 8, 8, 3)
        assert handle["copy"][-1] == 30000


@pytest.mark.parametrize("batch", [[], ["--batch-size", "1"]])
def test_float_copies_stay_in_budget_for_any_batch_size(tmp_path: Path, batch: list[str]):
    """100 float32 copies of a 256 x 256 RGB image (79 MB of rows) were one task whatever
    --batch-size: 330 MB."""
    root = tmp_path / "mid"
    root.mkdir()
    rng = np.random.default_rng(4)
    _png(root / "x.png", rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    args = ["transform", str(root), "-o", str(tmp_path / "o.h5"), "-q", "--horizontal-flip"]
    args += ["--copies", "100", "--seed", "1", "--rescale", "1/255", *batch]
    code, stderr, rss = peak_rss(args, tmp_path)
    assert (code, stderr) == (0, "")
    assert rss < budget(1, 256 * 256 * 3 * 4), f"{rss / MIB:.0f} MiB"


def _columns(path: Path) -> dict[str, bytes]:
    with h5py.File(path) as handle:
        names = ["images", "copy", "source_index", "paths"]
        names += [f"augmentation/{name}" for name in handle["augmentation"]]
        return {name: handle[name][()].tobytes() for name in names}


def test_cutting_copies_into_tasks_changes_no_byte(runner, tmp_path: Path):
    """Copies are keyed by (seed, split, image, copy): a file's copies cut into ranges (here
    one 64 x 64 float32 file's 120 rows in pieces of 85) give the same rows as whole."""
    from imgprep.run.tasks import task_spans

    rng = np.random.default_rng(5)
    root = tmp_path / "data"
    root.mkdir()
    for index in range(2):
        _png(root / f"{index}.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    row = 64 * 64 * 3 * 4
    spans = list(task_spans([row] * 2, 1024, 120))
    assert [span.rows for span in spans] == [(0, 85), (85, 120), (0, 85), (85, 120)]
    base = [str(root), "-q", "--rotation-range", "20", "--copies", "119", "--keep-original"]
    base += ["--seed", "7", "--rescale", "1/255"]
    outputs = []
    for extra in ([], ["--batch-size", "1"], ["--batch-size", "5000"], ["-j", "2"]):
        out = tmp_path / f"o{len(outputs)}.h5"
        result = runner.invoke(main, ["transform", *base, "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
        outputs.append(_columns(out))
    assert all(columns == outputs[0] for columns in outputs[1:])


def test_an_absurd_copy_count_is_refused_before_any_work(runner, tiny: Path, tmp_path: Path):
    out = tmp_path / "o.h5"
    args = ["transform", str(tiny), "-o", str(out), "-q", "--horizontal-flip", "--seed", "1"]
    result = runner.invoke(main, [*args, "--copies", str(10**12)])
    assert result.exit_code == 2
    # 192 bytes of pixels, 5 of path, 78 of copy number, source index and parameters
    assert result.stderr.startswith(
        "Error: --copies 1000000000000 would write 1,000,000,000,000 rows of 275 bytes = "
        f"250 TiB; the disk holding {out} has "
    )
    assert result.stderr.endswith(" free\n")
    assert os.listdir(tmp_path) == ["one"]


def test_a_png_tree_of_too_many_files_is_refused(runner, tiny: Path, tmp_path: Path):
    out = tmp_path / "tree"
    args = ["transform", str(tiny), "-o", str(out), "-q", "--horizontal-flip", "--seed", "1"]
    result = runner.invoke(main, [*args, "--copies", str(10**12)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: --copies 1000000000000 would write 1,000,000,000,000 rows of 67 bytes = 61 TiB"
    )
    assert os.listdir(tmp_path) == ["one"]
