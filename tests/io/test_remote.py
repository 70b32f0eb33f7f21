"""Inputs given as fsspec URLs: discovered and read through fsspec, same numbers as local."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import fsspec
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.cli import main
from imgprep.io.discover import discover
from imgprep.io.remote import is_url, mtime_ns
from tests.conftest import make_dataset


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Class folders plus the things discovery must ignore: hidden folder and file, a
    non-image, an image at the top of the labelled folder, a nested image."""
    root = tmp_path / "tree"
    make_dataset(root, np.random.default_rng(3), classes=("b", "a"), per_class=4, shape=(6, 5))
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes((root / "a" / "000.png").read_bytes())
    (root / "a" / ".hidden.png").write_bytes(b"x")
    (root / "b" / "notes.txt").write_text("not an image")
    (root / "top.png").write_bytes((root / "a" / "001.png").read_bytes())
    (root / "a" / "sub").mkdir()
    (root / "a" / "sub" / "deep.png").write_bytes((root / "b" / "002.png").read_bytes())
    return root


@pytest.fixture
def memory_tree(tree: Path):
    """The same tree in fsspec's in-memory filesystem (read in this process: -j 1)."""
    fs = fsspec.filesystem("memory")
    base = f"/imgprep-test-{id(tree)}"
    for path in tree.rglob("*"):
        if path.is_file():
            fs.pipe(f"{base}/{path.relative_to(tree).as_posix()}", path.read_bytes())
    yield f"memory://{base}"
    fs.rm(base, recursive=True)


def test_url_discovery_follows_the_local_rules(tree, memory_tree):
    local, remote = discover([str(tree)]), discover([memory_tree])
    assert remote.classes == local.classes == ["a", "b"]
    rels = [remote.items.rel(i) for i in range(len(remote.items))]
    assert rels == [local.items.rel(i) for i in range(len(local.items))]
    assert "a/sub/deep.png" in rels and "top.png" not in rels
    assert remote.items.labels() == local.items.labels()
    assert remote.ignored == local.ignored == 4
    assert len(remote.notes) == len(local.notes) == 1 and "belong to no class" in remote.notes[0]
    assert remote.items.path(0) == f"{memory_tree}/a/000.png"


def test_fit_stats_and_transform_read_urls(tree, memory_tree, tmp_path):
    for source, name in ((str(tree), "local"), (memory_tree, "memory")):
        assert invoke("fit-stats", source, "-q", "-o", str(tmp_path / f"{name}.json"))[0] == 0
        code, output = invoke("transform", source, "-q", "-o", str(tmp_path / f"{name}.h5"))
        assert code == 0, output
    local, remote = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("local", "memory"))
    assert remote["global"] == local["global"] and remote["accumulators"] == local["accumulators"]
    assert remote["inputs"] == [memory_tree]
    pixels = np.concatenate(
        [np.asarray(Image.open(p)).reshape(-1, 3) for p in tree.glob("[ab]/**/[0-9d]*.png")]
    ).astype(np.float64)
    assert remote["global"]["mean"] == pytest.approx(pixels.mean(), rel=1e-12)
    with h5py.File(tmp_path / "local.h5") as a, h5py.File(tmp_path / "memory.h5") as b:
        for name in ("images", "labels", "paths"):
            np.testing.assert_array_equal(b[name][()], a[name][()])


@pytest.mark.dask
def test_file_urls_on_the_dask_engine(tree, tmp_path):
    url = tree.as_uri()
    assert url.startswith("file://")
    assert invoke("transform", str(tree), "-q", "-o", str(tmp_path / "local.h5"))[0] == 0
    code, output = invoke(
        "transform", url, "-q", "-o", str(tmp_path / "dask.h5"), "--engine", "dask", "-j", "2",
        "--partition-size", "3",
    )  # fmt: skip
    assert code == 0, output
    with h5py.File(tmp_path / "local.h5") as a, h5py.File(tmp_path / "dask.h5") as b:
        for name in ("images", "labels", "paths"):
            np.testing.assert_array_equal(b[name][()], a[name][()])


def test_unreadable_url_files_are_reported_and_skipped(memory_tree):
    fs = fsspec.filesystem("memory")
    broken = memory_tree[len("memory://") :] + "/b/zz-broken.png"
    fs.pipe(broken, b"not an image")
    code, output = invoke("fit-stats", memory_tree, "--on-error", "skip")
    assert code == 0
    assert f"skipped: memory://{broken}: not an image imgprep reads" in output
    code, output = invoke("fit-stats", memory_tree)
    assert code == 1 and f"Error: memory://{broken}: not an image" in output


@pytest.mark.parametrize(
    "url, message",
    [
        ("nosuchscheme://bucket/x", "Protocol not known: nosuchscheme"),
        ("memory://imgprep-not-there/x", "input not found: memory://imgprep-not-there/x"),
    ],
)
def test_bad_urls_are_usage_errors(url, message):
    code, output = invoke("fit-stats", url)
    assert code == 2 and message in output and "Traceback" not in output


def test_modification_times_in_every_spelling():
    utc = dt.timezone.utc
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=utc)
    expected = round(moment.timestamp() * 1e9)
    assert mtime_ns({"mtime": moment.timestamp()}) == expected
    assert mtime_ns({"LastModified": moment}) == expected
    assert mtime_ns({"updated": "2026-01-02T03:04:05Z"}) == expected
    assert mtime_ns({"size": 3}) == -1
    assert is_url("s3://b/k") and is_url("file:///x") and not is_url("data/x:y")


def test_without_fsspec_urls_say_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fsspec", None)
    code, output = invoke("fit-stats", "s3://bucket/train")
    assert code == 2 and "read through fsspec: pip install" in output
