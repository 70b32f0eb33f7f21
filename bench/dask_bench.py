"""Benchmark ``--engine dask`` against ``--engine local`` on the MNIST training set (60,000 PNGs).

What it measures. As in ``fit_stats_bench.py`` and ``transform_bench.py``, each case runs in
its own subprocess: the wall time is taken by this script from the start of the subprocess
to its exit (interpreter start-up, imports and, for ``--engine dask``, starting and closing
the ``LocalCluster``, as a user sees them), and the peak RSS comes from ``os.wait4`` on it,
i.e. the largest resident set of any single process of the case (for ``-j 2``: the largest
of the main process and its workers, not their sum). ``ru_maxrss`` also counts the memory of
the process a case was started from, so this harness imports neither NumPy nor Pillow nor
h5py nor Dask. Both engines run ``-j 2``: two local worker processes, or a ``LocalCluster``
of two single-threaded worker processes that imgprep starts itself. Every imgprep command
also runs on the first 6,000 images (the tree ``fit_stats_bench.py`` builds), so that the
steady-state cost per image, (full time - subset time) x workers / (60,000 - 6,000), is free
of interpreter start-up, imports, discovery and cluster start-up.

1. ``imgprep fit-stats`` on the 60,000 images, local vs dask (default ``--partition-size``
   1024); the stats files must be byte-identical. Then the dask run without its cluster
   start-up and shutdown, measured apart: the wall time of case ``cluster`` (its own
   subprocess: ``imgprep.run.dask.connect`` exactly as the CLI calls it, 2 workers, once, as
   a CLI run does; one task; close) less that of case ``baseline`` (a subprocess that only
   imports imgprep) less that one task, broken down into importing ``distributed``, starting
   the cluster and connecting the client, closing both, and interpreter exit; the first task
   on a fresh worker (which imports imgprep there) is printed apart.
2. ``imgprep transform`` of the 60,000 images to HDF5 with ``--rescale 1/255 --center
   featurewise --standardize featurewise --stats <the local fit-stats file>``, local vs dask
   (shards joined by virtual datasets); the ``images`` datasets must be byte-identical
   (compared 2,048 rows at a time with h5py, as bytes), and so must ``labels`` and ``paths``.
   A transform case deletes its output (and ``.shards`` folder) first, inside its timed
   subprocess (``rm -rf``, tens of milliseconds), since a dask re-run would otherwise reuse
   every shard; that re-run is measured too (``dask, re-run``: every shard reused).
3. Scheduling overhead: the dask fit-stats with ``--partition-size`` 256, 1024 and 4096 (235,
   59 and 15 Dask tasks: imgprep never splits its 256-file batches), and N empty tasks on a
   2-worker ``LocalCluster`` (case ``empty tasks``): raw Dask (``client.submit`` each, then
   ``gather``: the scheduler's throughput), the per-task overhead in milliseconds; and
   through imgprep's own ``DaskRunner.map`` (in input order, at most 2 x threads + 2 in
   flight, as imgprep dispatches its partitions: with empty tasks, bound by the round-trip
   latency; an upper bound). The per-image cost, in seconds per image per worker, is the
   steady-state figure above. Case ``worker cost`` times imgprep's worker function
   (``summarise_batch``, in one process, best of 5, the two kinds alternated) on 2,048
   MNIST files and on the 40 JPEG photos of ``../shared/data/photos-sample`` decoded and
   resized to 224 x 224 (as ``fit-stats --size 224x224``, JPEG draft mode on); case
   ``driver cost`` the serial work of the driver: discovery, folding one partition's
   results (``StatsFold.add_batch``), unpickling them, pickling a partition's tasks, and for
   transform planning the shards (``plan_shards``, which hashes each partition's file list).
4. An estimate for 1,281,167 images (ImageNet-1k train) on 8, 32 and 128 workers:
   T = N x c / W + P x o, with c the measured per-image cost per worker, P = N / 1024
   partitions and o the raw per-task overhead (the ``DaskRunner`` figure's result is printed
   too). It assumes that the per-image work scales perfectly and that the scheduler handles
   tasks one after the other at the measured rate (Dask's scheduler handles roughly
   thousands of tasks per second; here it shares 2 cores with the workers, so o is
   pessimistic), with no start-up and no straggler. It is given for MNIST-size images and
   scaled to photos by the measured photo / MNIST cost ratio (MNIST 28 x 28 PNGs are far
   cheaper per image than ImageNet photos). The driver's serial work (discovery and folding,
   or planning) overlaps with the workers' but bounds the run from below; it is printed
   beside the estimate.

The MNIST trees are those ``fit_stats_bench.py`` builds (and reuses) under ``--cache``, with
its own function; every file is read once before timing (warm page cache). Cases run in
``--repeat`` interleaved rounds (this VM's speed drifts by tens of percent over minutes);
each keeps its fastest round and largest peak RSS, and the in-process cases report the last
round's figures. The imgprep package is installed in editable mode; a short hash of its
sources is printed, taken before and after the run, with a warning when they changed.

Run it (about 4 minutes on 2 cores with the default 2 rounds)::

    /tmp/venv/bin/python bench/dask_bench.py
    /tmp/venv/bin/python bench/dask_bench.py --limit 5000 --repeat 1    # quick smoke run
    /tmp/venv/bin/python bench/dask_bench.py --idx DIR --photos DIR --cache DIR

With ``--limit N`` only the first N digits are used (trees ``mnist-train-<N>`` and
``mnist-train-<N/10>``); steady-state figures from so few images are mostly noise, and a
cost that comes out negative is replaced by the whole-run figure (flagged in the output).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fit_stats_bench import (
    DEFAULT_CACHE,
    DEFAULT_IDX,
    MNIST_TRAIN_SIZE,
    Case,
    CaseResult,
    compile_imgprep,
    list_pngs,
    run_rounds,
    subset_size,
    tree_name,
)
from fit_stats_bench import imgprep_command as fit_stats_command
from fit_stats_bench import prepare as prepare_mnist
from transform_bench import (
    DEFAULT_PHOTOS,
    PHOTO_SIZE,
    describe_photos,
    list_jpegs,
    log,
    row_blocks,
    source_fingerprint,
    warm,
    yes,
)
from transform_bench import imgprep_command as transform_command

WORKERS = 2
FIT_BATCH = 256  # imgprep's fit-stats batch on a Dask cluster; a partition holds whole batches
TRANSFORM_BATCH = 1024  # imgprep's default transform batch for 28x28 float32 rows (about 4 MiB)
DEFAULT_PARTITION = 1024  # imgprep's --partition-size default
PARTITION_SIZES = (256, DEFAULT_PARTITION, 4096)
EMPTY_TASKS = 500
WORKER_COST_FILES = 2048
COST_REPEAT = 5
FOLD_REPEAT = 20
IMAGENET_TRAIN = 1_281_167
ESTIMATE_WORKERS = (8, 32, 128)
CHILD_CASES = ("prepare", "baseline", "cluster", "tasks", "worker-cost", "driver-cost", "check")


# --------------------------------------------------------------------------- child cases


def noop(index: int) -> int:
    """An empty Dask task."""
    return index


def import_imgprep() -> float:
    """Run on a fresh worker: import what imgprep's tasks need there; seconds it took."""
    start = time.perf_counter()
    import imgprep.run.shards
    import imgprep.run.stats_pass
    import imgprep.run.worker  # noqa: F401

    return time.perf_counter() - start


def child_baseline() -> dict[str, float]:
    """Case ``baseline``: import imgprep as the cluster case does, and nothing else."""
    import imgprep.run.dask  # noqa: F401

    return {}


def child_cluster() -> dict[str, float]:
    """Case ``cluster``: imgprep's own ``connect`` (as the CLI calls it), once in a
    fresh process as a CLI run does (a second start in the same process is faster: the
    scheduler's dashboard modules are imported by then); one task; close."""
    import imgprep.run.dask

    start = time.perf_counter()
    imgprep.run.dask.require_dask()  # imports distributed, as --engine dask does
    imported = time.perf_counter() - start
    with contextlib.ExitStack() as stack:
        start = time.perf_counter()
        runner = stack.enter_context(imgprep.run.dask.connect(None, workers=WORKERS))
        started = time.perf_counter() - start
        start = time.perf_counter()
        worker_import = runner.client.submit(import_imgprep, pure=False).result()
        first = time.perf_counter() - start
        start = time.perf_counter()
    return {
        "import": imported,
        "start": started,
        "first_task": first,
        "worker_import": worker_import,
        "close": time.perf_counter() - start,
    }


def child_tasks(count: int) -> dict[str, float]:
    """Case ``empty tasks``: ``count`` no-op tasks, all submitted at once then gathered (raw
    Dask: the scheduler's throughput), and through ``DaskRunner.map`` (in order, a window of
    2 x threads + 2 in flight: with empty tasks, bound by the round-trip latency)."""
    import imgprep.run.dask

    with imgprep.run.dask.connect(None, workers=WORKERS, quiet=True) as runner:
        client = runner.client
        client.gather([client.submit(noop, index, pure=False) for index in range(8)])  # warm up
        start = time.perf_counter()
        client.gather([client.submit(noop, index, pure=False) for index in range(count)])
        raw = time.perf_counter() - start
        start = time.perf_counter()
        done = sum(1 for _ in runner.map(noop, [(index,) for index in range(count)]))
        ordered = time.perf_counter() - start
    assert done == count
    return {"tasks": count, "raw": raw, "runner": ordered}


def best_time(func: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def child_worker_cost(root: Path, photos: Path) -> dict[str, Any]:
    """Case ``worker cost``: imgprep's fit-stats worker function in this process, per image."""
    from imgprep.config import DecodeSettings
    from imgprep.io.discover import discover
    from imgprep.run.stats_pass import StatsTask, summarise_batch

    items = discover([str(root)]).items
    count = min(len(items), WORKER_COST_FILES)
    mnist = [
        StatsTask(items.segments(start, min(start + FIT_BATCH, count)), DecodeSettings())
        for start in range(0, count, FIT_BATCH)
    ]
    photo_items = discover([str(photos)]).items
    resized = DecodeSettings(size=(PHOTO_SIZE, PHOTO_SIZE))
    photo = [StatsTask(photo_items.segments(0, len(photo_items)), resized)]

    def run(tasks: list[Any]) -> None:
        for task in tasks:
            summarise_batch(task)

    run(mnist[:1] + photo)  # warm up: decoder plugins, caches
    mnist_times, photo_times = [], []
    for _ in range(COST_REPEAT):  # alternated, so that both see the same machine
        mnist_times.append(best_time(lambda: run(mnist), 1))
        photo_times.append(best_time(lambda: run(photo), 1))
    return {
        "mnist_images": count,
        "mnist_s": min(mnist_times) / count,
        "photo_images": len(photo_items),
        "photo_s": min(photo_times) / len(photo_items),
        "jpeg_draft": resized.jpeg_draft,
    }


def child_driver_cost(root: Path, stats: Path, out: Path) -> dict[str, Any]:
    """Case ``driver cost``: the driver's serial work, per image and per partition."""
    from imgprep.config import DecodeSettings
    from imgprep.io.discover import discover
    from imgprep.io.stats_io import read_stats
    from imgprep.run.policy import ErrorPolicy
    from imgprep.run.shards import ShardSpec, plan_shards
    from imgprep.run.stats_pass import StatsFold, StatsTask, summarise_batch
    from imgprep.transforms.pipeline import Pipeline, PipelineOptions

    start = time.perf_counter()
    found = discover([str(root)])
    discovered = time.perf_counter() - start
    items = found.items
    count = min(len(items), DEFAULT_PARTITION)  # one partition of the default size
    tasks = [
        StatsTask(items.segments(start, min(start + FIT_BATCH, count)), DecodeSettings())
        for start in range(0, count, FIT_BATCH)
    ]
    summaries = [summarise_batch(task) for task in tasks]
    blob = pickle.dumps(summaries, protocol=5)

    def fold() -> None:
        folding = StatsFold(items, ErrorPolicy())
        for number, summary in enumerate(summaries):
            folding.add_batch(number * FIT_BATCH, summary)

    options = PipelineOptions(rescale=1 / 255, center="featurewise", standardize="featurewise")
    pipeline = Pipeline(options, read_stats(str(stats)))

    spec = ShardSpec(
        pipeline=pipeline,
        plan=None,
        split=0,
        labelled=found.labelled,
        path_bytes=items.longest_rel_bytes(),
        compression="none",
        batch_size=TRANSFORM_BATCH,
    )

    def plan() -> None:
        plan_shards(
            items, spec, folder=str(out / "planned.h5.shards"), partition_files=DEFAULT_PARTITION
        )

    return {
        "images": len(items),
        "partition_images": count,
        "discover_s": discovered,
        "fold_s": best_time(fold, FOLD_REPEAT),
        "unpickle_s": best_time(lambda: pickle.loads(blob), FOLD_REPEAT),
        "result_bytes": len(blob),
        "pickle_tasks_s": best_time(lambda: pickle.dumps(tasks, protocol=5), FOLD_REPEAT),
        "plan_s": best_time(plan, 2),
    }


def child_check(out: Path) -> dict[str, Any]:
    """The last round's transform outputs: byte-identical ``images``, ``labels``, ``paths``."""
    import h5py

    def same_bytes(first: Any, second: Any) -> bool:
        if first.shape != second.shape or first.dtype != second.dtype:
            return False
        return all(a.tobytes() == b.tobytes() for a, b in row_blocks(first, second))

    with h5py.File(out / "tr-local.h5") as local, h5py.File(out / "tr-dask.h5") as dask:
        images = local["images"]
        return {
            "shape": list(images.shape),
            "dtype": images.dtype.name,
            "images": same_bytes(images, dask["images"]),
            "labels": same_bytes(local["labels"], dask["labels"]),
            "paths": same_bytes(local["paths"], dask["paths"]),
            "virtual": dask["images"].is_virtual,
            "shards": len(json.loads(dask.attrs["shards"])),
        }


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Subprocess ``prepare``: build (or reuse) the MNIST trees, warm the cache, describe the
    photos."""
    prepare_mnist(args.idx, args.cache, args.limit)
    log(f"photos {args.photos}: {warm(list_jpegs(args.photos)) / 1e6:.1f} MB read")
    return describe_photos(args.photos)


def run_child(args: argparse.Namespace) -> None:
    """Entry point of a case subprocess: run it and print its result as one JSON line."""
    results = {
        "prepare": lambda: prepare(args),
        "baseline": child_baseline,
        "cluster": child_cluster,
        "tasks": lambda: child_tasks(args.tasks),
        "worker-cost": lambda: child_worker_cost(args.root, args.photos),
        "driver-cost": lambda: child_driver_cost(args.root, args.stats, args.out),
        "check": lambda: child_check(args.out),
    }
    print(json.dumps(results[args.child]()))


# --------------------------------------------------------------------------- commands


def child_command(case: str, *options: str | Path | int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", case, *map(str, options)]


def dask_options(partition: int) -> list[str]:
    """``--engine dask``; ``--partition-size`` only when not imgprep's default."""
    size = [] if partition == DEFAULT_PARTITION else ["--partition-size", str(partition)]
    return ["--engine", "dask", *size]


def fresh(output: Path, command: list[str]) -> list[str]:
    """``command`` after deleting ``output`` and its shard folder, in the same subprocess."""
    script = 'rm -rf -- "$0" "$0.shards" && exec "$@"'
    return ["sh", "-c", script, str(output), *command]


def partitions(images: int, partition: int, batch: int) -> int:
    """Dask tasks imgprep makes: partitions of whole batches, at least ``partition`` files."""
    batches = math.ceil(images / batch)
    return math.ceil(batches / math.ceil(partition / batch))


def build_cases(args: argparse.Namespace, roots: dict[str, Path], out: Path) -> dict[str, Case]:
    """Every case, in the order of a round (the transforms use ``fit-local.json``, written
    first). ``roots``: the full tree and its subset, for the steady-state figures."""
    counts = {"": args.limit, "_sub": subset_size(args.limit)}
    stats = ["--stats", str(out / "fit-local.json")]
    cases: dict[str, Case] = {}
    for suffix, root in roots.items():
        n, first = counts[suffix], f", first {counts[suffix]:,}" if suffix else ""
        output = out / f"fit-local{suffix}.json"
        cases[f"fit_local{suffix}"] = (
            f"fit-stats local{first}",
            n,
            fit_stats_command(root, WORKERS, output),
        )
    for size in PARTITION_SIZES:
        command = fit_stats_command(roots[""], WORKERS, out / f"fit-dask-{size}.json")
        label = (
            f"fit-stats dask, partition {size} ({partitions(args.limit, size, FIT_BATCH)} tasks)"
        )
        cases[f"fit_dask_{size}"] = (label, args.limit, command + dask_options(size))
    sub = counts["_sub"]
    cases["fit_dask_sub"] = (
        f"fit-stats dask, first {sub:,}",
        sub,
        fit_stats_command(roots["_sub"], WORKERS, out / "fit-dask-sub.json")
        + dask_options(DEFAULT_PARTITION),
    )
    cases["baseline"] = ("baseline: import imgprep", 0, child_command("baseline"))
    cases["cluster"] = ("cluster: start, 1 task, close", 0, child_command("cluster"))
    cases["tasks"] = (
        f"empty tasks ({args.tasks} raw + {args.tasks} ordered)",
        0,
        child_command("tasks", "--tasks", args.tasks),
    )
    for suffix, root in roots.items():
        n, first = counts[suffix], f", first {counts[suffix]:,}" if suffix else ""
        local, dask = out / f"tr-local{suffix}.h5", out / f"tr-dask{suffix}.h5"
        dask_command = transform_command(root, dask, WORKERS, stats) + dask_options(
            DEFAULT_PARTITION
        )
        cases[f"tr_local{suffix}"] = (
            f"transform local{first}",
            n,
            fresh(local, transform_command(root, local, WORKERS, stats)),
        )
        shards = math.ceil(n / DEFAULT_PARTITION)
        cases[f"tr_dask{suffix}"] = (
            f"transform dask{first} ({shards} shards)",
            n,
            fresh(dask, dask_command),
        )
        if not suffix:
            cases["tr_reuse"] = ("transform dask, re-run (shards reused)", n, dask_command)
    cases["worker_cost"] = (
        "worker cost (in-process)",
        0,
        child_command("worker-cost", "--root", roots[""], "--photos", args.photos),
    )
    cases["driver_cost"] = (
        "driver cost (in-process)",
        0,
        child_command("driver-cost", "--root", roots[""], "--out", out, *stats),
    )
    return cases


# --------------------------------------------------------------------------- reporting


def format_table(results: Sequence[CaseResult], locals_: Sequence[CaseResult]) -> str:
    """One row per case; 'vs local' is the time of the local case over as many images over
    the case's time (above 1: faster than local)."""
    header = (
        f"{'case':<46} {'images':>7} {'seconds':>8} {'images/s':>9} {'peak RSS MB':>11} "
        f"{'vs local':>9}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        local = next(case for case in locals_ if case.images == result.images)
        lines.append(
            f"{result.name:<46} {result.images:>7} {result.seconds:>8.2f} "
            f"{result.images / result.seconds:>9.0f} {result.peak_rss_mb:>11.1f} "
            f"{local.seconds / result.seconds:>8.2f}x"
        )
    return "\n".join(lines)


def duration(seconds: float) -> str:
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def child_json(results: dict[str, CaseResult], key: str) -> dict[str, Any]:
    """The JSON line a child case printed (its last round)."""
    return json.loads(results[key].stdout)


def marginal(results: dict[str, CaseResult], key: str, overhead: float) -> tuple[float, bool]:
    """Seconds per image per worker in steady state: the full run minus the subset run, so
    that interpreter, imports, discovery and cluster start-up cancel out; and True. When
    noise makes it negative (tiny ``--limit``): the whole run less ``overhead`` (or the
    whole run, if that too is not positive), and False."""
    full, sub = results[key], results[f"{key}_sub"]
    cost = (full.seconds - sub.seconds) * WORKERS / (full.images - sub.images)
    if cost > 0:
        return cost, True
    fallback = (full.seconds - overhead) * WORKERS / full.images
    if fallback <= 0:  # a run shorter than the start-up figure: noise again, keep it all
        fallback = full.seconds * WORKERS / full.images
    return fallback, False


def derived(
    results: dict[str, CaseResult],
    cluster: dict[str, float],
    tasks: dict[str, float],
    worker: dict[str, Any],
) -> dict[str, Any]:
    """Start-up, per-image costs per worker, per-task overheads, the photo / MNIST ratio."""
    n = results["fit_local"].images
    # What --engine dask adds to a run besides its tasks: the cluster process's wall time
    # less the baseline's (interpreter and imgprep imports) and less its one task.
    overhead = results["cluster"].seconds - results["baseline"].seconds - cluster["first_task"]
    inside = cluster["import"] + cluster["start"] + cluster["close"]
    first, last = PARTITION_SIZES[0], PARTITION_SIZES[-1]
    extra = partitions(n, first, FIT_BATCH) - partitions(n, last, FIT_BATCH)
    spread = results[f"fit_dask_{first}"].seconds - results[f"fit_dask_{last}"].seconds
    results = {**results, "fit_dask": results[f"fit_dask_{DEFAULT_PARTITION}"]}
    costs = {
        "local_c": marginal(results, "fit_local", 0),
        "dask_c": marginal(results, "fit_dask", overhead),
        "tr_local_c": marginal(results, "tr_local", 0),
        "tr_dask_c": marginal(results, "tr_dask", overhead),
    }
    return {
        "overhead": overhead,
        "exit": overhead - inside,
        "fit_dask_bare": results["fit_dask"].seconds - overhead,
        "tr_dask_bare": results["tr_dask"].seconds - overhead,
        **{key: cost for key, (cost, _) in costs.items()},
        "noisy": [key for key, (_, steady) in costs.items() if not steady],
        "task_s": tasks["raw"] / tasks["tasks"],
        "runner_task_s": tasks["runner"] / tasks["tasks"],
        "sweep_task_s": spread / extra if extra else None,
        "photo_ratio": worker["photo_s"] / worker["mnist_s"],
    }


def fit_stats_lines(
    results: dict[str, CaseResult], out: Path, cluster: dict[str, float], figures: dict[str, Any]
) -> list[str]:
    local = results["fit_local"]
    dask = results[f"fit_dask_{DEFAULT_PARTITION}"]
    reference = (out / "fit-local.json").read_bytes()
    same = [
        f"partition {size}: {yes((out / f'fit-dask-{size}.json').read_bytes() == reference)}"
        for size in PARTITION_SIZES
    ]
    same_sub = (out / "fit-dask-sub.json").read_bytes() == (out / "fit-local_sub.json").read_bytes()
    bare = figures["fit_dask_bare"]
    return [
        f"stats files of dask byte-identical to local: {', '.join(same)}; subset: {yes(same_sub)}",
        f"wall time dask / local (as a user sees it): {dask.seconds / local.seconds:.2f}x "
        f"({dask.seconds:.2f} s / {local.seconds:.2f} s)",
        f"cluster start-up and shutdown, measured apart: {figures['overhead']:.2f} s (wall "
        f"time of a process running imgprep.run.dask.connect as the CLI, {WORKERS} workers, less "
        "a process that only imports imgprep, less its one task):",
        f"  import distributed {cluster['import']:.2f} s + start LocalCluster and connect client "
        f"{cluster['start']:.2f} s + close {cluster['close']:.2f} s + interpreter exit and "
        f"the rest {figures['exit']:.2f} s",
        f"  (not in it: the first task on a fresh worker took {cluster['first_task']:.2f} s, "
        f"{cluster['worker_import']:.2f} s of it importing imgprep there)",
        f"dask without cluster start-up: {bare:.2f} s, {dask.images / bare:,.0f} images/s; "
        f"dask / local: {bare / local.seconds:.2f}x",
        f"steady state (full run minus first {results['fit_local_sub'].images:,}): local "
        f"{WORKERS / figures['local_c']:,.0f} images/s, dask {WORKERS / figures['dask_c']:,.0f} "
        f"images/s; time dask / local: {figures['dask_c'] / figures['local_c']:.2f}x",
    ]


def transform_lines(
    results: dict[str, CaseResult], check: dict[str, Any], figures: dict[str, Any]
) -> list[str]:
    local, dask = results["tr_local"], results["tr_dask"]
    bare = figures["tr_dask_bare"]
    return [
        f"images byte-identical (dask vs local, {check['shape']} {check['dtype']}): "
        f"{yes(check['images'])}; labels: {yes(check['labels'])}; paths: {yes(check['paths'])}",
        f"dask output: virtual datasets: {yes(check['virtual'])}, over {check['shards']} shards",
        f"wall time dask / local (as a user sees it): {dask.seconds / local.seconds:.2f}x "
        f"({dask.seconds:.2f} s / {local.seconds:.2f} s); without cluster start-up: "
        f"{bare:.2f} s, {bare / local.seconds:.2f}x",
        f"steady state (full run minus first {results['tr_local_sub'].images:,}): local "
        f"{WORKERS / figures['tr_local_c']:,.0f} images/s, dask "
        f"{WORKERS / figures['tr_dask_c']:,.0f} images/s; time dask / local: "
        f"{figures['tr_dask_c'] / figures['tr_local_c']:.2f}x",
        f"re-run with every shard reused (resume, nothing decoded): "
        f"{results['tr_reuse'].seconds:.2f} s",
    ]


def overhead_lines(
    results: dict[str, CaseResult], figures: dict[str, Any], tasks: dict[str, float]
) -> list[str]:
    count = tasks["tasks"]
    lines = [
        f"{count} empty tasks, raw Dask (client.submit each, then gather): "
        f"{tasks['raw'] / count * 1e3:.2f} ms/task ({count / tasks['raw']:,.0f} tasks/s)",
        f"{count} empty tasks through imgprep's DaskRunner.map (in order, <= "
        f"{2 * WORKERS + 2} in flight): {figures['runner_task_s'] * 1e3:.2f} ms/task "
        f"({1 / figures['runner_task_s']:,.0f} tasks/s; latency-bound: a window of "
        f"{2 * WORKERS + 2} empty tasks)",
        f"{'fit-stats dask, partition size':<32} {'tasks':>6} {'seconds':>8}",
    ]
    for size in PARTITION_SIZES:
        result = results[f"fit_dask_{size}"]
        made = partitions(result.images, size, FIT_BATCH)
        lines.append(f"{size:<32} {made:>6} {result.seconds:>8.2f}")
    slope = figures["sweep_task_s"]
    lines.append(
        f"apparent cost per extra partition (wall-time slope, {PARTITION_SIZES[0]} vs "
        f"{PARTITION_SIZES[-1]}): "
        + (f"{slope * 1e3:.1f} ms" if slope is not None else "n/a (same task count)")
    )
    return lines


def cost_lines(
    figures: dict[str, Any], worker: dict[str, Any], driver: dict[str, Any]
) -> list[str]:
    us = 1e6
    n, part = driver["images"], driver["partition_images"]
    return [
        "per-image cost, seconds per image per worker (steady state: (full - subset) wall "
        "time x workers / images):",
        f"  fit-stats local {figures['local_c'] * us:6.1f} us, dask {figures['dask_c'] * us:6.1f} "
        f"us; transform local {figures['tr_local_c'] * us:6.1f} us, dask "
        f"{figures['tr_dask_c'] * us:6.1f} us",
        f"  in one process (imgprep's summarise_batch, a worker alone on a core), "
        f"{worker['mnist_images']} MNIST files: {worker['mnist_s'] * us:.1f} us",
        f"  in one process, {worker['photo_images']} JPEG photos to {PHOTO_SIZE}x{PHOTO_SIZE} "
        f"(fit-stats --size, JPEG draft {'on' if worker['jpeg_draft'] else 'off'}): "
        f"{worker['photo_s'] * 1e3:.2f} ms = {figures['photo_ratio']:.0f}x an MNIST digit",
        *(
            [
                f"  WARNING: steady state negative (noise) for {', '.join(figures['noisy'])}: "
                "whole-run figures (less cluster start-up) used instead"
            ]
            if figures["noisy"]
            else []
        ),
        "driver (serial, one process):",
        f"  discovery: {driver['discover_s']:.2f} s for {n:,} files "
        f"({driver['discover_s'] / n * us:.2f} us/file)",
        f"  folding one {part}-file partition (StatsFold.add_batch): "
        f"{driver['fold_s'] * 1e3:.3f} ms ({driver['fold_s'] / part * us:.3f} us/image); "
        f"unpickling its results ({driver['result_bytes'] / 1e3:.0f} kB): "
        f"{driver['unpickle_s'] * 1e3:.3f} ms; pickling its tasks: "
        f"{driver['pickle_tasks_s'] * 1e3:.3f} ms",
        f"  transform: planning the shards (plan_shards: a key hashing each partition's file "
        f"list): {driver['plan_s']:.2f} s ({driver['plan_s'] / n * us:.2f} us/image)",
    ]


def estimate_lines(
    figures: dict[str, Any], driver: dict[str, Any], worker: dict[str, Any], info: dict[str, Any]
) -> list[str]:
    n = IMAGENET_TRAIN
    tasks = math.ceil(n / DEFAULT_PARTITION)
    o = figures["task_s"]
    photo_c = figures["dask_c"] * figures["photo_ratio"]
    columns = {
        "fit-stats, MNIST-size": figures["dask_c"],
        "fit-stats, photo-size": photo_c,
        "transform, MNIST-size": figures["tr_dask_c"],
    }
    discover = driver["discover_s"] / driver["images"]
    fold = driver["fold_s"] / driver["partition_images"]
    plan = driver["plan_s"] / driver["images"]
    lines = [
        f"estimate for {n:,} images (ImageNet-1k train), partition {DEFAULT_PARTITION} "
        f"(P = {tasks:,} Dask tasks), on W workers:",
        f"T = N x c / W + P x o, o = {o * 1e3:.2f} ms per task (empty tasks, raw Dask, above), "
        "c per worker (steady state, above):",
        f"  MNIST-size: c = {figures['dask_c'] * 1e6:.0f} us (fit-stats), "
        f"{figures['tr_dask_c'] * 1e6:.0f} us (transform to HDF5 shards, 28x28 float32)",
        f"  photo-size: c = {photo_c * 1e3:.2f} ms = the fit-stats c x {figures['photo_ratio']:.0f}"
        f", the photo / MNIST cost ratio measured in one process ({worker['photo_images']} "
        f"photos, {info['min_side']}..{info['max_side']} px, {info['mean_megapixels']:.2f} Mpx "
        f"mean, decoded and resized to {PHOTO_SIZE}x{PHOTO_SIZE})",
        "MNIST 28x28 PNGs are far cheaper per image than ImageNet photos (~500x375 JPEG, "
        f"~{figures['photo_ratio']:.0f}x here): the photo-size column is the one for ImageNet.",
        "Assumed: the per-image work scales perfectly (a core per worker, storage that keeps "
        "up); the scheduler handles",
        "tasks one after the other at the measured rate (Dask's scheduler handles roughly "
        "thousands of tasks per second;",
        "here it shares 2 cores with the workers, so o is pessimistic); no cluster start-up; no "
        f"straggler (add up to one partition, {DEFAULT_PARTITION} x c).",
        f"{'W':>4}" + "".join(f" {name:>31}" for name in columns),
    ]
    for workers in ESTIMATE_WORKERS:
        cells = []
        for cost in columns.values():
            work, scheduling = n * cost / workers, tasks * o
            cells.append(
                f"{duration(work)} + {duration(scheduling)} = {duration(work + scheduling)}"
            )
        lines.append(f"{workers:>4}" + "".join(f" {cell:>31}" for cell in cells))
    runner_o = figures["runner_task_s"]
    lines += [
        "(each cell: per-image work + scheduling = total; the sum is conservative, as tasks are "
        "dispatched while others run)",
        f"With o = {runner_o * 1e3:.2f} ms (empty tasks through DaskRunner, latency-bound with a "
        f"window of {2 * WORKERS + 2}; its window grows with the workers), scheduling would be "
        f"{duration(tasks * runner_o)} instead of {duration(tasks * o)}.",
        "The driver's serial work (measured above) overlaps with the workers' but bounds the "
        f"run from below: fit-stats discovery + folding {duration(n * (discover + fold))}",
        f"({(discover + fold) * 1e6:.2f} us/image); transform discovery + shard planning "
        f"{duration(n * (discover + plan))} ({(discover + plan) * 1e6:.2f} us/image), before the "
        "first task is submitted.",
        f"With the in-process photo cost instead (a worker alone on a core, "
        f"{worker['photo_s'] * 1e3:.2f} ms): fit-stats photo-size on "
        + ", ".join(
            f"{workers} workers {duration(n * worker['photo_s'] / workers + tasks * o)}"
            for workers in ESTIMATE_WORKERS
        )
        + ".",
    ]
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idx", type=Path, default=DEFAULT_IDX, help="MNIST IDX folder")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="JPEG photos folder")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="PNG tree folder")
    parser.add_argument(
        "--limit", type=int, default=MNIST_TRAIN_SIZE, help="use only the first N digits"
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds; each case keeps its fastest (default 2)"
    )
    parser.add_argument(
        "--tasks", type=int, default=EMPTY_TASKS, help=f"empty tasks (default {EMPTY_TASKS})"
    )
    parser.add_argument("--child", choices=CHILD_CASES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 100 <= args.limit <= MNIST_TRAIN_SIZE:
        parser.error(f"--limit must be between 100 and {MNIST_TRAIN_SIZE}")
    if args.repeat < 1 or args.tasks < 1:
        parser.error("--repeat and --tasks must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return
    fingerprint = source_fingerprint()
    preparation = child_command("prepare", "--limit", args.limit, "--idx", args.idx)
    preparation += ["--photos", str(args.photos), "--cache", str(args.cache)]
    info = json.loads(subprocess.run(preparation, check=True, stdout=subprocess.PIPE).stdout)
    compile_imgprep()
    roots = {"": args.cache / tree_name(args.limit)}
    roots["_sub"] = args.cache / tree_name(subset_size(args.limit))
    assert len(list_pngs(roots[""])) == args.limit
    with tempfile.TemporaryDirectory(prefix="imgprep-bench-") as tmp:
        out = Path(tmp)
        results = run_rounds(build_cases(args, roots, out), args.repeat)
        log("checking outputs ...")
        checked = subprocess.run(
            child_command("check", "--out", out), check=True, stdout=subprocess.PIPE, text=True
        )
        check = json.loads(checked.stdout)
        cluster, tasks = child_json(results, "cluster"), child_json(results, "tasks")
        worker, driver = child_json(results, "worker_cost"), child_json(results, "driver_cost")
        figures = derived(results, cluster, tasks, worker)
        fit_lines = fit_stats_lines(results, out, cluster, figures)
    assert not {"numpy", "PIL", "h5py", "distributed"} & set(sys.modules), "harness too big"
    harness_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = source_fingerprint()
    rounds = f"{os.cpu_count()} CPUs, best of {args.repeat} interleaved rounds"
    print(f"imgprep sources {fingerprint}" + ("" if after == fingerprint else f" -> {after}"))
    if after != fingerprint:
        print("WARNING: the imgprep sources changed during the run; rounds mix versions")
    print(
        f"--engine dask vs local, both -j {WORKERS}: {roots['']} ({args.limit:,} images, {rounds})"
    )
    print()
    print("1. fit-stats")
    fit_keys = ["fit_local", "fit_local_sub", *(f"fit_dask_{s}" for s in PARTITION_SIZES)]
    locals_ = [results["fit_local"], results["fit_local_sub"]]
    print(format_table([results[key] for key in [*fit_keys, "fit_dask_sub"]], locals_))
    print("\n".join(fit_lines))
    print()
    print("2. transform --rescale 1/255 --center featurewise --standardize featurewise --stats")
    tr_keys = ("tr_local", "tr_local_sub", "tr_dask", "tr_dask_sub", "tr_reuse")
    locals_ = [results["tr_local"], results["tr_local_sub"]]
    print(format_table([results[key] for key in tr_keys], locals_))
    print("\n".join(transform_lines(results, check, figures)))
    print()
    print("3. scheduling overhead and per-image cost")
    print("\n".join(overhead_lines(results, figures, tasks)))
    print("\n".join(cost_lines(figures, worker, driver)))
    print()
    print("4. " + "\n".join(estimate_lines(figures, driver, worker, info)))
    print()
    helpers = ("baseline", "cluster", "tasks", "worker_cost", "driver_cost")
    helpers = [results[key] for key in helpers]
    print("helper subprocesses, wall time: ", end="")
    print(", ".join(f"{result.name} {result.seconds:.1f} s" for result in helpers))
    print(f"harness peak RSS (a floor under every RSS figure above): {harness_mb:.1f} MB")


if __name__ == "__main__":
    main()
