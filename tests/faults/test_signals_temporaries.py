"""What a killed run leaves (its temporary output, its ``.rows`` scratch) is deleted by the
next run of the same output, and nothing else is.

Before: temporary names were ``.NAME.<random>.tmp``, with nothing to tell whose they were,
and they stayed for good after ``kill -9`` (hundreds of MB for an HDF5 output).
"""

from __future__ import annotations

import os
import re
import time

from imgprep.cli import main
from imgprep.io.atomic import temporary_name
from tests.conftest import listing
from tests.faults.signals_support import dead_pid, linux_only, small_images, start

FEATUREWISE = ["--rescale", "1/255", "--center", "featurewise", "--standardize", "featurewise"]
OWNED = re.compile(r"^\.o\.h5\.imgprep-[0-9a-f]{8}-(\d+)-[0-9a-f]{8}\.tmp(\.rows)?$")


def _owned_by(pid: int, name: str) -> str:
    """``name``'s temporary name as process ``pid`` would have made it."""
    mine = os.path.basename(temporary_name(name))
    return mine.replace(f"-{os.getpid()}-", f"-{pid}-", 1)


@linux_only
def test_a_killed_run_leaves_its_temporaries_and_the_next_run_removes_them(runner, tmp_path, rng):
    data = small_images(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    args = ["-q", "--size", "64x64", "--rotation-range", "20", "--copies", "400", "--seed", "1"]
    process = start("transform", str(data), "-o", str(out / "o.h5"), *args, *FEATUREWISE)
    deadline = time.monotonic() + 30
    while not any(name.endswith(".rows") for name in os.listdir(out)):  # both files exist
        assert process.poll() is None and time.monotonic() < deadline, "no scratch file"
        time.sleep(0.01)
    process.kill()
    process.wait()
    process.stdout.close()
    process.stderr.close()
    left = sorted(os.listdir(out))
    assert len(left) == 2
    for name in left:  # imgprep's mark, the owner's pid
        found = OWNED.match(name)
        assert found and int(found[1]) == process.pid, name
    # a live process's temporary (this one's), another output's and a different name stay
    live = _owned_by(os.getpid(), "o.h5")
    other = _owned_by(process.pid, "other.h5")
    unlike = f".o.h5.{process.pid}.tmp"
    for name in (live, other, unlike):
        (out / name).write_bytes(b"keep")
    result = runner.invoke(main, ["transform", str(data), "-q", "-o", str(out / "o.h5")])
    assert result.exit_code == 0, result.output
    assert listing(out) == sorted([live, other, unlike, "o.h5"])


def test_a_killed_png_tree_is_removed_not_a_link_or_a_live_one(runner, dataset, tmp_path):
    root, _ = dataset
    gone = dead_pid()
    stale = tmp_path / _owned_by(gone, "tree")
    (stale / "cat").mkdir(parents=True)
    (stale / "cat" / "000.png").write_bytes(b"half")
    live = tmp_path / _owned_by(os.getpid(), "tree")
    live.mkdir()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    link = tmp_path / _owned_by(gone, "tree")  # a stale name, but a link: never followed
    link.symlink_to(precious, target_is_directory=True)
    result = runner.invoke(main, ["transform", str(root), "-q", "-o", str(tmp_path / "tree")])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert live.is_dir() and link.is_symlink()
    assert (precious / "keep.txt").read_text() == "mine"
