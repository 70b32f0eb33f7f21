"""``--engine dask``: a real LocalCluster (2 worker processes) gives the local engine's bytes.

fit-stats: the same stats file (ZCA sidecar included). transform: the same datasets, as
virtual datasets over HDF5 shards readable with plain h5py; a worker killed mid-run is
replaced and its partition run again; a failed run leaves no main file and no half shard,
and the next run reuses the shards that are complete and still match.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import dask
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin
from PIL import Image

import imgprep
from imgprep.cli import main
from imgprep.cli.common import progress_bar
from imgprep.errors import DecodeError, InputError
from imgprep.run.dask import DaskRunner, group_tasks, task_files
from tests.conftest import make_dataset, write_image

pytestmark = (
    pytest.mark.dask
)  # the Dask engine: about half the suite's time (-m 'not dask' skips it)


def start_cluster() -> LocalCluster:
    return LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    )


@pytest.fixture(scope="module")
def scheduler():
    """One cluster for the module's tests (starting one takes about 2 s)."""
    cluster = start_cluster()
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """3 classes x 8 grayscale 10x12 images."""
    rng = np.random.default_rng(7)
    root = tmp_path / "digits"
    make_dataset(root, rng, classes=("a", "b", "c"), per_class=8, shape=(10, 12))
    return root


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, read with plain h5py."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, node: (
                out.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None
            )
        )
    return out


def assert_same_output(local: Path, sharded: Path) -> None:
    """Same datasets (values and dtypes) and the same attributes but engine and shards."""
    expected, got = datasets(local), datasets(sharded)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    with h5py.File(local) as a, h5py.File(sharded) as b:
        assert set(b.attrs) - set(a.attrs) == {"engine", "shards"}
        for key, value in a.attrs.items():
            assert b.attrs[key] == value, key
        groups = [name for name in a if isinstance(a[name], h5py.Group)] or [None]
        for name in groups:
            ga, gb = (a, b) if name is None else (a[name], b[name])
            assert gb["images"].is_virtual
            assert json.loads(gb.attrs["skipped"]) == json.loads(ga.attrs["skipped"])
            assert gb.attrs["count"] == ga.attrs["count"]


def on_both_engines(
    command: str,
    source: Path,
    local: Path,
    sharded: Path,
    args: list[str],
    cluster: list[str],
) -> str:
    """``command`` on the local engine (quiet), then with ``--engine dask`` and ``cluster``
    options; the Dask run's output."""
    assert invoke(command, str(source), "-o", str(local), "-q", *args)[0] == 0
    code, output = invoke(command, str(source), "-o", str(sharded), *args, "--engine", "dask",
                          *cluster)  # fmt: skip
    assert code == 0, output
    return output


def test_fit_stats_file_is_byte_identical_to_the_local_engine(scheduler, digits, tmp_path):
    local, sharded = tmp_path / "local.json", tmp_path / "dask.json"
    cluster = ["-q", "--scheduler", scheduler, "--partition-size", "5", "--batch-size", "2"]
    on_both_engines("fit-stats", digits, local, sharded, [], cluster)
    assert sharded.read_bytes() == local.read_bytes()
    stats = json.loads(local.read_text())
    pixels = np.concatenate([np.asarray(Image.open(p)).ravel() for p in digits.rglob("*.png")])
    assert stats["global"]["mean"] == pytest.approx(pixels.astype(np.float64).mean(), rel=1e-12)
    assert stats["global"]["std"] == pytest.approx(pixels.astype(np.float64).std(), rel=1e-12)


def test_zca_sidecar_is_byte_identical(scheduler, digits, tmp_path):
    outputs = []
    for engine in ("local", "dask"):
        out = tmp_path / engine / "stats.json"
        out.parent.mkdir()
        extra = ["--scheduler", scheduler, "--partition-size", "4"] if engine == "dask" else []
        code, output = invoke(
            "fit-stats", str(digits), "-o", str(out), "-q", "--zca", "--engine", engine, *extra
        )
        assert code == 0, output
        outputs.append(out)
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    sidecars = [out.with_name("stats.zca.npz").read_bytes() for out in outputs]
    assert sidecars[0] == sidecars[1]


def test_a_local_cluster_is_started_without_a_scheduler(digits, tmp_path):
    local, sharded = tmp_path / "local.json", tmp_path / "dask.json"
    assert invoke("fit-stats", str(digits), "-o", str(local), "-q")[0] == 0
    code, output = invoke(
        "fit-stats", str(digits), "-o", str(sharded), "--engine", "dask", "-j", "2"
    )
    assert code == 0, output
    assert "dask: connected to a local cluster of 2 worker(s); dashboard http" in output
    assert sharded.read_bytes() == local.read_bytes()


def test_transform_writes_shards_joined_by_virtual_datasets(scheduler, digits, tmp_path):
    local, sharded = tmp_path / "local.h5", tmp_path / "out" / "dask.h5"
    sharded.parent.mkdir()
    args = ["--center", "featurewise", "--standardize", "featurewise", "--batch-size", "3"]
    cluster = ["--scheduler", scheduler, "--partition-size", "5"]
    output = on_both_engines("transform", digits, local, sharded, args, cluster)
    assert "transform: 5 shard(s) in" in output and "0 reused" in output
    shards = sorted(p.name for p in (tmp_path / "out" / "dask.h5.shards").iterdir())
    assert len(shards) == 5 and all(name.startswith("part-0000") for name in shards)
    assert_same_output(local, sharded)
    # the shards are named relative to the main file: the pair can be moved together
    moved = tmp_path / "moved"
    shutil.move(str(tmp_path / "out"), moved)
    images = datasets(moved / "dask.h5")["images"]
    np.testing.assert_array_equal(images, datasets(local)["images"])
    assert abs(images.mean()) < 1e-6 and abs(images.std() - 1) < 1e-5


def test_splits_augmentation_and_skipped_files_match_the_local_engine(scheduler, digits, tmp_path):
    (digits / "b" / "broken.png").write_bytes(b"not a png")
    args = [
        "--split", "train=0.7,val=0.3", "--seed", "5", "--rotation-range", "30",
        "--horizontal-flip", "--copies", "2", "--keep-original", "--rescale", "1/255",
        "--on-error", "skip", "--batch-size", "2",
    ]  # fmt: skip
    local, sharded = tmp_path / "local.h5", tmp_path / "dask.h5"
    cluster = ["--scheduler", scheduler, "--partition-size", "3"]
    output = on_both_engines("transform", digits, local, sharded, args, cluster)
    assert output.count("skipped: ") == 1 and "broken.png" in output
    assert "1 skipped (of" in output
    assert_same_output(local, sharded)
    assert (tmp_path / "dask.h5.shards" / "train").is_dir()
    assert (tmp_path / "dask.h5.shards" / "val").is_dir()


def test_a_shuffled_split_matches_the_local_engine(scheduler, digits, tmp_path):
    args = ["--split", "train=0.7,val=0.3", "--seed", "5", "--shuffle", "--rotation-range",
            "30", "--copies", "2", "--batch-size", "2"]  # fmt: skip
    local, sharded = tmp_path / "local.h5", tmp_path / "dask.h5"
    cluster = ["-q", "--scheduler", scheduler, "--partition-size", "3"]
    on_both_engines("transform", digits, local, sharded, args, cluster)
    assert_same_output(local, sharded)
    with h5py.File(sharded) as f:
        assert f["train/permutation"].is_virtual and f["val/permutation"].is_virtual
        assert sorted(f["val/permutation"][:].tolist()) == list(range(len(f["val/paths"])))


def test_a_failed_run_leaves_no_output_and_the_next_run_reuses_complete_shards(
    scheduler, digits, tmp_path
):
    bad = digits / "c" / "999.png"  # the last file: its partition is the last one
    bad.write_bytes(b"broken")
    out = tmp_path / "out.h5"
    args = ["transform", str(digits), "-o", str(out), "--engine", "dask"]
    args += ["--scheduler", scheduler, "--partition-size", "5", "--batch-size", "2"]
    code, output = invoke(*args)
    assert code == 1 and "999.png" in output
    assert not out.exists()
    folder = tmp_path / "out.h5.shards"
    names = sorted(p.name for p in folder.iterdir())
    assert names and all(name.startswith("part-") and name.endswith(".h5") for name in names)
    for name in names:  # every shard under a final name is complete
        with h5py.File(folder / name) as shard:
            assert "shard_key" in shard.attrs
    # fix the file and run again: only its partition is written anew
    write_image(bad, np.full((10, 12), 9, dtype=np.uint8))
    code, output = invoke(*args)
    assert code == 0, output
    assert "5 shard(s) in" in output and "4 reused from an earlier run" in output
    # an interrupted run that lost a shard: that one alone is written again
    last = sorted(folder.iterdir())[2]
    last.unlink()
    code, output = invoke(*args)
    assert code == 0 and "4 reused" in output
    local = tmp_path / "local.h5"
    assert invoke("transform", str(digits), "-o", str(local), "-q")[0] == 0
    assert_same_output(local, out)


def test_stale_shards_are_removed_and_missing_ones_refused_by_inspect(scheduler, digits, tmp_path):
    out = tmp_path / "out.h5"
    base = ["transform", str(digits), "-o", str(out), "-q", "--engine", "dask"]
    assert invoke(*base, "--scheduler", scheduler, "--partition-size", "5")[0] == 0
    folder = tmp_path / "out.h5.shards"
    leftover = folder / ".part-00003-0123456789abcdef.h5.1a2b3c4d.tmp"  # a killed worker's
    leftover.write_bytes(b"half")
    assert invoke(*base, "--scheduler", scheduler, "--partition-size", "12")[0] == 0
    assert len(list(folder.iterdir())) == 2  # the 5 old shards and the temporary are gone
    code, output = invoke("inspect", str(out), "--json")
    assert code == 0, output
    assert json.loads(output)["images"] == 24
    next(folder.iterdir()).unlink()
    code, output = invoke("inspect", str(out))
    assert code == 1 and "which is missing" in output and "zeros" in output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler cannot be used without --engine dask"),
        (["--partition-size", "3"], "--partition-size cannot be used without --engine dask"),
        (["--engine", "dask", "--scheduler", "tcp://x:1", "-j", "2"], "--workers sets the size"),
    ],
)
def test_usage_errors(digits, tmp_path, args, message):
    code, output = invoke("fit-stats", str(digits), *args)
    assert code == 2 and message in output


def test_png_output_on_a_cluster_is_refused(digits, tmp_path):
    code, output = invoke(
        "transform", str(digits), "-o", str(tmp_path / "tree"), "--engine", "dask"
    )
    assert code == 2 and "--engine dask writes HDF5" in output


def test_an_unreachable_scheduler_is_a_one_line_error(digits):
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code, output = invoke(
            "fit-stats", str(digits), "-q", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"
        )
    assert code == 1
    assert output == (
        "Error: cannot connect to the Dask scheduler at tcp://127.0.0.1:9: connection refused\n"
    )
    assert "Traceback" not in output


class KillFirstShard(WorkerPlugin):
    """Kills its worker process when a shard task starts, once (a marker file remembers)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "write_shard" in str(key):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return
            os.close(fd)
            os._exit(1)


def test_a_killed_worker_is_replaced_and_its_partition_run_again(digits, tmp_path):
    cluster = start_cluster()
    try:
        with Client(cluster) as client:
            marker = tmp_path / "killed"
            client.register_plugin(KillFirstShard(str(marker)))
            out = tmp_path / "out.h5"
            code, output = invoke(
                "transform", str(digits), "-o", str(out), "--engine", "dask", "--scheduler",
                cluster.scheduler_address, "--partition-size", "4", "--rescale", "1/255",
            )  # fmt: skip
            assert marker.exists(), "the plugin never killed a worker"
            assert code == 0, output
    finally:
        cluster.close()
    local = tmp_path / "local.h5"
    assert invoke("transform", str(digits), "-o", str(local), "-q", "--rescale", "1/255")[0] == 0
    assert_same_output(local, out)


def test_partitions_group_whole_batches_in_order():
    class Task:
        def __init__(self, n: int) -> None:
            self.segments = [("/r", tuple(str(i) for i in range(n)))]

    groups = group_tasks([Task(3), Task(3), Task(3), Task(1)], 5)
    assert [[task_files(t) for t in group] for group in groups] == [[3, 3], [3, 1]]
    assert group_tasks([], 5) == []


def test_decode_errors_cross_process_boundaries_intact():
    error = pickle.loads(pickle.dumps(DecodeError("a/b.png", "truncated")))
    assert (error.path, error.reason, str(error)) == ("a/b.png", "truncated", "a/b.png: truncated")


def test_unreadable_files_stop_or_are_skipped_as_locally(scheduler, digits, tmp_path):
    (digits / "b" / "broken.png").write_bytes(b"not a png")
    cluster = ["--engine", "dask", "--scheduler", scheduler, "--partition-size", "4"]
    code, output = invoke("fit-stats", str(digits), "-q", *cluster)
    assert code == 1 and output.startswith("Error: ") and "broken.png" in output
    local, sharded = tmp_path / "local.json", tmp_path / "dask.json"
    assert invoke("fit-stats", str(digits), "-q", "--on-error", "skip", "-o", str(local))[0] == 0
    code, output = invoke(
        "fit-stats", str(digits), "--on-error", "skip", "-o", str(sharded), *cluster
    )
    assert code == 0 and "24 processed, 1 skipped (of 25 found)" in output
    assert sharded.read_bytes() == local.read_bytes()


def test_the_progress_bar_counts_partitions(scheduler, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    reports: list[tuple[int, str]] = []

    def bar(total: int, desc: str):
        reports.append((total, desc))
        return progress_bar(total, quiet=False, desc=desc, unit="partition")

    with Client(scheduler) as client:
        runner = DaskRunner(client, progress=bar)
        assert list(runner.map(abs, [(-n,) for n in range(7)], desc="demo")) == list(range(7))
        silent = DaskRunner(client)  # the library alone prints nothing
        assert list(silent.map(abs, [(-1,)])) == [1]
    assert reports == [(7, "demo")]
    assert "demo" in stderr.getvalue() and "7/7" in stderr.getvalue()
    assert "partition" in stderr.getvalue()
    assert stderr.getvalue().count("demo") >= 1 and "abs" not in stderr.getvalue()


class KillEveryShard(WorkerPlugin):
    """Kills its worker whenever a shard task starts."""

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "write_shard" in str(key):
            os._exit(1)


def test_a_partition_that_kills_every_worker_is_a_one_line_error(digits, tmp_path):
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = start_cluster()
    try:
        with Client(cluster) as client:
            client.register_plugin(KillEveryShard())
            code, output = invoke(
                "transform", str(digits), "-q", "-o", str(tmp_path / "out.h5"), "--engine",
                "dask", "--scheduler", cluster.scheduler_address,
            )  # fmt: skip
    finally:
        cluster.close()
    assert code == 1 and "Traceback" not in output
    assert output.startswith("Error: a Dask worker died each time it ran one partition")
    assert not (tmp_path / "out.h5").exists()


def test_python_api_on_a_cluster(scheduler, digits):
    local = imgprep.compute_stats([str(digits)])
    with imgprep.connect_dask(scheduler) as cluster:
        remote = imgprep.compute_stats([str(digits)], workers=cluster, batch_size=5)
    assert remote.to_json() == local.to_json()


# Regressions found in review: each wrote wrong data or a traceback.


def test_resume_never_reuses_shards_of_another_layout(scheduler, digits, tmp_path):
    """Adding a loose file makes the input unlabelled (no labels dataset), and the same file
    reached from another root has another stored path: neither may reuse old shards."""
    loose = tmp_path / "loose.png"
    loose.write_bytes((digits / "a" / "000.png").read_bytes())
    out, local = tmp_path / "out.h5", tmp_path / "local.h5"
    cluster = ["--engine", "dask", "--scheduler", scheduler, "--partition-size", "10"]
    runs = [[str(digits)], [str(digits), str(loose)], [str(digits / "a")],
            [str(p) for p in sorted((digits / "a").glob("*.png"))]]  # fmt: skip
    for inputs in runs:
        code, output = invoke("transform", *inputs, "-o", str(out), *cluster)
        assert code == 0, output
        assert invoke("transform", *inputs, "-q", "-o", str(local))[0] == 0
        assert_same_output(local, out)
    assert "0 reused" in output


def test_relative_inputs_work_when_workers_run_elsewhere(scheduler, digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the cluster's workers were started in another directory
    files = ["digits/a/000.png", "digits/b/001.png"]
    for engine, extra in (("local", []), ("dask", ["--scheduler", scheduler])):
        for inputs in (["digits"], files):
            out = f"{engine}-{len(inputs)}.h5"
            code, output = invoke("transform", *inputs, "-q", "-o", out, "--engine", engine, *extra)
            assert code == 0, output
    assert_same_output(tmp_path / "local-1.h5", tmp_path / "dask-1.h5")
    assert_same_output(tmp_path / "local-2.h5", tmp_path / "dask-2.h5")
    code, output = invoke("fit-stats", "digits", "-q", "--engine", "dask", "--scheduler", scheduler)
    assert code == 0, output


def test_a_symbolic_link_as_output_is_written_through(scheduler, digits, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "out.h5"
    link.symlink_to(tmp_path / "real" / "target.h5")
    code, output = invoke(
        "transform",
        str(digits),
        "-q",
        "-o",
        str(link),
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
    )
    assert code == 0, output
    assert link.is_symlink() and (tmp_path / "real" / "target.h5.shards").is_dir()
    local = tmp_path / "local.h5"
    assert invoke("transform", str(digits), "-q", "-o", str(local))[0] == 0
    assert_same_output(local, tmp_path / "real" / "target.h5")
    assert invoke("inspect", str(link), "-q")[0] == 0


def test_changing_the_split_layout_removes_the_old_shards(scheduler, digits, tmp_path):
    out = tmp_path / "out.h5"
    cluster = ["-q", "--engine", "dask", "--scheduler", scheduler, "--partition-size", "5"]
    assert invoke("transform", str(digits), "-o", str(out), *cluster)[0] == 0
    shutil.copytree(digits / "a", tmp_path / "val" / "a")  # disjoint from train
    named = ["--input", f"train={digits}", "--input", f"val={tmp_path / 'val'}"]
    code, output = invoke("transform", *named, "-o", str(out), *cluster)
    assert code == 0, output
    folder = tmp_path / "out.h5.shards"
    assert sorted(p.name for p in folder.iterdir()) == ["train", "val"]
    assert (
        len(list((folder / "train").iterdir())) == 5 and len(list((folder / "val").iterdir())) == 2
    )


def test_a_malformed_scheduler_address_is_a_usage_error(digits):
    code, output = invoke(
        "fit-stats", str(digits), "-q", "--engine", "dask", "--scheduler", "127.0.0.1"
    )
    assert code == 2 and output.startswith("Error: invalid --scheduler address '127.0.0.1'")


@pytest.mark.parametrize("case", ["bad file", "shapes differ"])
def test_failures_on_a_cluster_print_one_line_and_are_not_retried(digits, tmp_path, case):
    """In a real process (stderr as a user sees it): no Dask log blocks, no late traceback."""
    if case == "bad file":
        (digits / "b" / "broken.png").write_bytes(b"not a png")
        expected = "Error: " + str(digits / "b" / "broken.png") + ": not an image imgprep reads"
    else:
        write_image(digits / "c" / "wide.png", np.zeros((10, 30), dtype=np.uint8))
        expected = "Error: images differ in shape: a/000.png is 10x12x1 (HxWxC) but c/wide.png"
    command = [sys.executable, "-m", "imgprep", "transform", str(digits), "-q"]
    command += ["-o", str(tmp_path / "out.h5"), "--engine", "dask", "-j", "2"]
    command += ["--partition-size", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == (1 if case == "bad file" else 2), done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(expected), done.stderr
    assert "Traceback" not in done.stderr and "Compute Failed" not in done.stderr
    assert not (tmp_path / "out.h5").exists()


def fail_once(marker: str) -> str:
    """An I/O error the first time (a flaky disk), then success."""
    if not os.path.exists(marker):
        Path(marker).touch()
        raise OSError("transient")
    return "done"


def count_and_refuse(counter: str) -> None:
    """A library error (bad data): recorded, then raised."""
    with open(counter, "a") as handle:
        handle.write("x")
    raise InputError("bad input, the same every time")


def test_transient_errors_are_retried_library_errors_are_not(scheduler, tmp_path):
    with Client(scheduler) as client:
        runner = DaskRunner(client)
        assert list(runner.map(fail_once, [(str(tmp_path / "failed"),)])) == ["done"]
        counter = tmp_path / "attempts"
        with pytest.raises(InputError, match="the same every time"):
            list(runner.map(count_and_refuse, [(str(counter),)]))
    assert counter.read_text() == "x"  # one attempt: no retry of a deterministic error


def test_a_local_cluster_needs_a_worker():
    with pytest.raises(InputError, match="at least 1 worker"), imgprep.connect_dask(workers=0):
        pass


def test_a_tampered_shard_and_an_empty_result_are_one_line_errors(scheduler, digits, tmp_path):
    out = tmp_path / "out.h5"
    args = ["transform", str(digits), "-o", str(out), "--engine", "dask"]
    args += ["--scheduler", scheduler, "--partition-size", "10", "-q"]
    assert invoke(*args)[0] == 0
    shard = sorted((tmp_path / "out.h5.shards").iterdir())[1]
    with h5py.File(shard, "a") as f:  # same key and files: reused, but it lost a dataset
        del f["labels"]
    code, output = invoke(*args)
    assert code == 1 and "holds images, paths, but the first shard holds" in output
    for path in digits.rglob("*.png"):
        path.write_bytes(b"broken")
    empty = tmp_path / "empty.h5"
    code, output = invoke(*args[:3], str(empty), *args[4:], "--on-error", "skip")
    assert code == 1 and output.endswith("Error: no image could be read; nothing to write\n")
    assert not empty.exists()


def test_without_the_dask_extra_the_engine_says_how_to_install_it(digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    code, output = invoke("fit-stats", str(digits), "-q", "--engine", "dask")
    assert code == 2 and "pip install 'imgprep[dask]'" in output
