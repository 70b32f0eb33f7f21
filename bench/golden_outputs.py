"""Before/after check of imgprep's outputs: a fixed list of CLI runs, fingerprinted.

A restructuring must not change what a valid run writes. ``record`` runs a fixed list of
``python -m imgprep`` commands (fit-stats, transform featurewise/samplewise/split/augmented/
ZCA/PNG, Dask, inspect) on MNIST digits and photos and writes a fingerprint of every output;
``check`` runs the same list with the code as it is now and prints every difference.

What a fingerprint holds, per case and per output file (path relative to the case folder):

- HDF5: every group's and dataset's attributes (JSON strings parsed, so numbers compare
  exactly) and, for every dataset, recursively (``train/images``, ``augmentation/theta``...):
  shape, dtype, chunks, compression, whether it is virtual, and the SHA-256 of its array bytes
  (variable-length strings: of their UTF-8 text).
- JSON files (stats files, ``imgprep.json`` manifests): the parsed JSON and the SHA-256 of the
  file's bytes.
- ``.npz`` (ZCA sidecars): the SHA-256 of the file and the shape, dtype and SHA-256 of each
  array.
- PNG: mode, shape, dtype and SHA-256 of the decoded pixels.
- anything else: the SHA-256 of its bytes. And every command's exit code and stdout (parsed
  when it is JSON: ``inspect --json``).

Nothing is normalised except what was found to differ between two runs of the SAME code:

- The inputs are copied into a scratch folder (``mnist/``, ``photos/``) and given by relative
  paths; each copy gets one fixed modification time, since the stats file's provenance hash
  and the Dask shard keys include each file's mtime (otherwise the bundled examples would hash
  differently in every checkout).
- ``transform --zca`` records the sidecar's absolute path in its ``pipeline`` attribute (it is
  resolved beside the stats file): the scratch folder's path is replaced by ``<scratch>``
  wherever it appears (attributes, JSON, stdout).
- A Dask shard's key (in its file name, its ``shard_key`` and the joined file's ``shards``) and
  its ``files_sha256`` hash the absolute paths of its input files, so they differ with the
  scratch folder: they are replaced by ``<key>`` and a marker; the shards' datasets and other
  attributes, and the joined file's datasets (read through the virtual datasets), are compared.
- Nothing else: ``np.savez`` writes its zip members with a fixed 1980 date, so the ZCA sidecar
  and the SHA-256 that the stats file and the transform record of it are stable, and
  ``imgprep_version`` is kept (it does not vary between runs of the same code).

Some cases must also equal another case of the same run: ``-j 2`` and ``-j 1``, Dask and local
(fit-stats: the whole stats file; transform: the values of every dataset).

Usage::

    python bench/golden_outputs.py record OUT.json [--mnist DIR] [--photos DIR] [--quick]
    python bench/golden_outputs.py check BASELINE.json [--mnist DIR] [--photos DIR] [--quick]

Without ``--mnist``/``--photos``, the datasets bundled in the package (300 digits, 12 photos).
``--quick`` skips the Dask cases; ``--cases a,b`` runs a subset; ``--parallel N`` runs N cases
at once; ``--keep`` keeps the scratch folder; ``list`` prints the cases. ``check`` exits 1 on
any difference, else prints ``N runs identical``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FORMAT = "imgprep-golden-outputs"
VERSION = 1
# Every copied input file gets this modification time (ns): provenance hashes include it.
FIXED_MTIME_NS = 1_700_000_000_000_000_000
HALF1, HALF2 = "<half1>", "<half2>"  # the first / second half of mnist's class folders
FEATUREWISE = "--center featurewise --standardize featurewise"
AUGMENT = "--rotation-range 20 --horizontal-flip --zoom-range 0.1 --copies 3 --keep-original"
DASK = "--engine dask -j 2 -q --partition-size 128"


@dataclass(frozen=True)
class Case:
    """A named run: imgprep commands (after ``python -m imgprep``), run in order from the scratch
    folder, which holds the inputs ``mnist/`` and ``photos/``. ``{o}`` is the case's own output
    folder; HALF1 and HALF2 expand to half of mnist's class folders each."""

    name: str
    commands: tuple[str, ...]
    dask: bool = False
    same_as: str | None = None  # a case whose outputs this one must equal (-j 2 and -j 1)
    same_data_as: str | None = None  # a case whose HDF5 datasets' values this one must equal


CASES: tuple[Case, ...] = (
    Case("fit_stats_gray", ("fit-stats mnist -o {o}/stats.json",)),
    Case("fit_stats_j2", ("fit-stats mnist -j 2 -o {o}/stats.json",), same_as="fit_stats_gray"),
    Case(
        "fit_stats_photos_rgb_fill",
        ("fit-stats photos --color rgb --size 32x32 --resize-mode fill -o {o}/stats.json",),
    ),
    Case("fit_stats_zca", ("fit-stats mnist --size 8x8 --zca --rescale 1/255 -o {o}/stats.json",)),
    Case(
        "fit_stats_merge",
        (
            f"fit-stats {HALF1} -o {{o}}/half1.json",
            f"fit-stats {HALF2} -o {{o}}/half2.json",
            "fit-stats --merge {o}/half1.json {o}/half2.json -o {o}/all.json",
        ),
    ),
    Case(
        "transform_featurewise_single_pass",
        (f"transform mnist --rescale 1/255 {FEATUREWISE} -o {{o}}/out.h5",),
    ),
    Case(
        "transform_stats_given",
        (
            "fit-stats mnist -o {o}/stats.json",
            f"transform mnist --stats {{o}}/stats.json --rescale 1/255 {FEATUREWISE}"
            " -o {o}/out.h5",
        ),
    ),
    Case(
        "transform_samplewise",
        (
            "transform mnist --rescale 1/255 --center samplewise --standardize samplewise"
            " -o {o}/out.h5",
        ),
    ),
    Case(
        "transform_split",
        (
            "transform mnist --split train=0.8,val=0.2 --seed 1 --rescale 1/255"
            f" {FEATUREWISE} -o {{o}}/out.h5",
        ),
    ),
    Case(
        "transform_photos_rgb",
        (
            "transform photos --size 32x32 --color rgb --rescale 1/255"
            f" {FEATUREWISE} --dtype float32 -o {{o}}/out.h5",
        ),
    ),
    Case("transform_augment_j1", (f"transform mnist {AUGMENT} --seed 7 -o {{o}}/out.h5",)),
    Case(
        "transform_augment_j2",
        (f"transform mnist {AUGMENT} --seed 7 -j 2 -o {{o}}/out.h5",),
        same_as="transform_augment_j1",
    ),
    Case(
        "transform_augment_photos",
        (
            "transform photos --size 32x32 --color rgb --rescale 1/255 --width-shift-range 0.2"
            " --shear-range 10 --fill-mode reflect --brightness-range 0.8,1.2"
            " --channel-shift-range 10 --copies 2 --seed 3 -o {o}/out.h5",
        ),
    ),
    Case(
        "transform_zca",
        (
            "fit-stats mnist --size 8x8 --zca --rescale 1/255 -o {o}/stats.json",
            "transform mnist --size 8x8 --rescale 1/255 --zca --stats {o}/stats.json -o {o}/out.h5",
        ),
    ),
    Case("transform_png", ("transform mnist --size 16x16 -o {o}/png",)),
    Case(
        "dask_fit_stats",
        (f"fit-stats mnist {DASK} -o {{o}}/stats.json",),
        dask=True,
        same_as="fit_stats_gray",
    ),
    Case(
        "dask_transform",
        (
            "fit-stats mnist -o {o}/stats.json",
            f"transform mnist {DASK} --stats {{o}}/stats.json --rescale 1/255 {FEATUREWISE}"
            " -o {o}/out.h5",
        ),
        dask=True,
        same_data_as="transform_stats_given",
    ),
    Case("inspect_folder", ("inspect mnist --json",)),
    Case(
        "inspect_hdf5",
        (
            f"transform photos --size 24x24 --rescale 1/255 {FEATUREWISE} -o {{o}}/out.h5",
            "inspect {o}/out.h5 --json",
        ),
    ),
)


# ---------------------------------------------------------------- fingerprints


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_digest(array: Any) -> str:
    """SHA-256 of an array's bytes; object arrays (variable-length strings) by their text."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype.kind == "O":
        items = [x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x)
                 for x in array.ravel()]  # fmt: skip
        return sha256(json.dumps(items, ensure_ascii=False).encode("utf-8", "surrogateescape"))
    return sha256(np.ascontiguousarray(array).tobytes())


def _plain(value: Any) -> Any:
    """An attribute as JSON: strings parsed when they are JSON, NumPy values as lists/numbers."""
    import numpy as np

    if isinstance(value, bytes):
        return {"bytes": _plain(value.decode("utf-8", "surrogateescape"))}
    if isinstance(value, str):
        try:
            return {"json": json.loads(value)}
        except ValueError:
            return {"str": value}
    if isinstance(value, np.ndarray):
        return {"array": [str(value.dtype), list(value.shape), value.tolist()]}
    if isinstance(value, np.generic):
        return {"scalar": [str(value.dtype), value.item()]}
    return {"other": [type(value).__name__, repr(value)]}


def _attrs(obj: Any) -> dict[str, Any]:
    return {key: _plain(obj.attrs[key]) for key in sorted(obj.attrs.keys())}


def fingerprint_hdf5(path: Path) -> dict[str, Any]:
    import h5py

    groups: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    with h5py.File(path, "r") as handle:
        groups["/"] = _attrs(handle)

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets[name] = {
                    "shape": list(obj.shape),
                    "dtype": obj.dtype.str,
                    "string": repr(h5py.check_string_dtype(obj.dtype)),
                    "chunks": list(obj.chunks) if obj.chunks else None,
                    "compression": obj.compression,
                    "virtual": obj.is_virtual,
                    "sha256": _array_digest(obj[()]),
                    "attrs": _attrs(obj),
                }
            else:
                groups[name] = _attrs(obj)

        handle.visititems(visit)
    return {"kind": "hdf5", "groups": groups, "datasets": dict(sorted(datasets.items()))}


def fingerprint_npz(path: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        arrays = {
            name: {
                "shape": list(archive[name].shape),
                "dtype": archive[name].dtype.str,
                "sha256": _array_digest(archive[name]),
            }
            for name in archive.files
        }
    return {"kind": "npz", "sha256": sha256(path.read_bytes()), "arrays": arrays}


def fingerprint_png(path: Path) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image)
        mode = image.mode
    return {
        "kind": "png",
        "mode": mode,
        "shape": list(pixels.shape),
        "dtype": pixels.dtype.str,
        "sha256": _array_digest(pixels),
    }


def fingerprint_file(path: Path, volatile: dict[str, str]) -> dict[str, Any]:
    """One output file; ``volatile`` maps run-dependent strings (the scratch path) to markers."""
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return fingerprint_hdf5(path)
    if suffix == ".npz":
        return fingerprint_npz(path)
    if suffix == ".png":
        return fingerprint_png(path)
    data = path.read_bytes()
    for text, marker in volatile.items():
        data = data.replace(text.encode(), marker.encode())
    if suffix == ".json":
        return {"kind": "json", "sha256": sha256(data), "json": json.loads(data)}
    return {"kind": "bytes", "sha256": sha256(data)}


def _neutralise(value: Any, volatile: dict[str, str]) -> Any:
    """``value`` with every ``volatile`` string replaced by its marker (in keys too)."""
    if isinstance(value, str):
        for text, marker in volatile.items():
            value = value.replace(text, marker)
        return value
    if isinstance(value, dict):
        return {_neutralise(k, volatile): _neutralise(v, volatile) for k, v in value.items()}
    if isinstance(value, list):
        return [_neutralise(item, volatile) for item in value]
    return value


SHARD = re.compile(r"\.shards/(?:.+/)?part-\d+-([0-9a-f]{16})\.h5$")
SHARD_FILES_SHA256 = "<sha256 of the partition's absolute paths>"


def _shard_keys(files: dict[str, Any]) -> dict[str, str]:
    """{key: marker} of the Dask shards listed. A shard's key and its ``files_sha256`` hash the
    absolute paths of its input files (in the scratch folder), so they change with the folder;
    every dataset and other attribute of the shards and the joined file is compared."""
    keys = {}
    for rel, fingerprint in files.items():
        match = SHARD.search(rel)
        if match and fingerprint.get("kind") == "hdf5":
            keys[match.group(1)] = "<key>"
            root = fingerprint["groups"]["/"]
            if "files_sha256" in root:
                root["files_sha256"] = {"json": SHARD_FILES_SHA256}
    return keys


def fingerprint_folder(folder: Path, volatile: dict[str, str]) -> dict[str, Any]:
    """Every file under ``folder``, by its path relative to it."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        files[path.relative_to(folder).as_posix()] = fingerprint_file(path, volatile)
    volatile = {**volatile, **_shard_keys(files)}
    return _neutralise(files, volatile)


def _stdout(text: str) -> Any:
    if not text:
        return None
    try:
        return {"json": json.loads(text)}
    except ValueError:
        return {"text": text}


# ---------------------------------------------------------------- running


def _env() -> dict[str, str]:
    """The environment of every imgprep command: this checkout's imgprep, whatever is installed."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path)


def _bundled(name: str) -> Path:
    """A bundled example's folder, as ``imgprep examples NAME`` gives it (wherever it moves)."""
    command = [sys.executable, "-m", "imgprep", "examples", name]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def copy_inputs(source: Path, target: Path) -> dict[str, Any]:
    """Copy a dataset into the scratch folder with one fixed mtime; fingerprint its files."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    listing = hashlib.sha256()
    count = 0
    for path in sorted(target.rglob("*")):
        if path.is_file():
            os.utime(path, ns=(FIXED_MTIME_NS, FIXED_MTIME_NS))
            rel = path.relative_to(target).as_posix()
            listing.update(f"{rel}\t{sha256(path.read_bytes())}\n".encode())
            count += 1
    return {"files": count, "sha256": listing.hexdigest()}


def _halves(mnist: Path) -> tuple[list[str], list[str]]:
    classes = sorted(p.name for p in mnist.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise SystemExit(f"{mnist}: the merge case needs at least two class folders")
    middle = len(classes) // 2
    return [f"mnist/{c}" for c in classes[:middle]], [f"mnist/{c}" for c in classes[middle:]]


def expand(case: Case, command: str, halves: tuple[list[str], list[str]]) -> list[str]:
    argv: list[str] = []
    for token in shlex.split(command):
        if token == HALF1:
            argv += halves[0]
        elif token == HALF2:
            argv += halves[1]
        else:
            argv.append(token.replace("{o}", case.name))
    return argv


def scratch_markers(scratch: Path) -> dict[str, str]:
    """The scratch folder's absolute path, as written and resolved: a transform with ``--zca``
    records the sidecar's absolute path in its pipeline, the one temporary path in any output."""
    return {str(path): "<scratch>" for path in sorted({scratch, scratch.resolve()}, key=str)[::-1]}


def run_case(case: Case, scratch: Path, halves: tuple[list[str], list[str]]) -> dict[str, Any]:
    """Run a case's commands from the scratch folder; fingerprint what they wrote and printed."""
    (scratch / case.name).mkdir()
    env = _env()
    volatile = scratch_markers(scratch)
    runs = []
    for command in case.commands:
        argv = expand(case, command, halves)
        done = subprocess.run(
            [sys.executable, "-m", "imgprep", *argv],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
        )
        stdout = _neutralise(_stdout(done.stdout), volatile)
        runs.append({"argv": argv, "exit": done.returncode, "stdout": stdout})
        if done.returncode != 0:
            runs[-1]["stderr"] = done.stderr.strip().splitlines()[-5:]
            break
    return {"commands": runs, "files": fingerprint_folder(scratch / case.name, volatile)}


def select(names: str | None, quick: bool) -> tuple[list[Case], list[str]]:
    """The cases to run and notes about those skipped."""
    known = {case.name for case in CASES}
    wanted = set(names.split(",")) if names else known
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(unknown))}")
    notes = []
    chosen = []
    has_dask = importlib.util.find_spec("distributed") is not None
    for case in CASES:
        if case.name not in wanted:
            continue
        if case.dask and quick:
            notes.append(f"skipped {case.name}: --quick")
            continue
        if case.dask and not has_dask:
            notes.append(f"skipped {case.name}: dask.distributed is not installed")
            continue
        chosen.append(case)
    return chosen, notes


def run_all(args: argparse.Namespace, expected: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy the inputs, run the selected cases, fingerprint them; no case runs when the inputs
    differ from ``expected`` (a baseline's), since every output would differ."""
    cases, notes = select(args.cases, args.quick)
    for note in notes:
        print(note, file=sys.stderr)
    mnist = Path(args.mnist) if args.mnist else _bundled("mnist")
    photos = Path(args.photos) if args.photos else _bundled("photos")
    scratch = Path(tempfile.mkdtemp(prefix="imgprep-golden-"))
    started = time.perf_counter()
    try:
        inputs = {
            "mnist": copy_inputs(mnist, scratch / "mnist"),
            "photos": copy_inputs(photos, scratch / "photos"),
        }
        halves = _halves(scratch / "mnist")
        if expected is not None and inputs != expected:
            cases = []

        def timed(case: Case) -> dict[str, Any]:
            began = time.perf_counter()
            result = run_case(case, scratch, halves)
            print(f"{case.name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
            return result

        # Cases write to their own folders, so several can run at once (--parallel).
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            results = dict(zip([c.name for c in cases], pool.map(timed, cases), strict=True))
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"{len(cases)} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return {
        "format": FORMAT,
        "version": VERSION,
        "inputs": inputs,
        "skipped": notes,
        "cases": results,
    }


# ---------------------------------------------------------------- comparing


def _same_scalar(a: Any, b: Any) -> bool:
    """Exact equality: the same JSON type and, for floats, the same bits (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def differences(before: Any, after: Any, where: str = "") -> Iterator[str]:
    """Every difference between two fingerprints, as 'where: before X vs after Y'."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in list(before) + [k for k in after if k not in before]:
            name = "(root)" if key == "/" else key  # an HDF5 file's root group
            inner = f"{where}/{name}" if where else str(name)
            if key not in after:
                yield f"{inner}: missing after (before {_short(before[key])})"
            elif key not in before:
                yield f"{inner}: new after ({_short(after[key])})"
            else:
                yield from differences(before[key], after[key], inner)
    elif isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            yield f"{where}: {len(before)} items before vs {len(after)} after: "
            yield f"  before {_short(before)}"
            yield f"  after  {_short(after)}"
            return
        for index, (a, b) in enumerate(zip(before, after, strict=True)):
            yield from differences(a, b, f"{where}[{index}]")
    elif (
        isinstance(before, dict | list)
        or isinstance(after, dict | list)
        or not _same_scalar(before, after)
    ):
        yield f"{where}: before {_short(before)} vs after {_short(after)}"


def _data(files: dict[str, Any]) -> dict[str, Any]:
    """The values of every HDF5 dataset (Dask's virtual ones against local ones)."""
    return {
        f"{rel}/{name}": [dataset["shape"], dataset["dtype"], dataset["sha256"]]
        for rel, fingerprint in files.items()
        if fingerprint["kind"] == "hdf5" and ".shards/" not in rel
        for name, dataset in fingerprint["datasets"].items()
    }


def invariant_differences(cases: dict[str, Any]) -> Iterator[str]:
    """Cases that must equal another case of the same run (-j 2 vs -j 1, Dask vs local)."""
    for case in CASES:
        if case.same_as and case.name in cases and case.same_as in cases:
            for line in differences(cases[case.same_as]["files"], cases[case.name]["files"]):
                yield f"{case.name} vs {case.same_as}: {line}"
        if case.same_data_as and case.name in cases and case.same_data_as in cases:
            theirs, mine = cases[case.same_data_as]["files"], cases[case.name]["files"]
            for line in differences(_data(theirs), _data(mine)):
                yield f"{case.name} vs {case.same_data_as} (datasets): {line}"


def failed_commands(cases: dict[str, Any]) -> Iterator[str]:
    for name, result in cases.items():
        for run in result["commands"]:
            if run["exit"] != 0:
                yield (
                    f"{name}: `imgprep {' '.join(run['argv'])}` exited {run['exit']}: "
                    + " | ".join(run.get("stderr", []))
                )


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> tuple[list[str], int]:
    """(difference lines, number of cases compared)."""
    lines: list[str] = []
    if baseline.get("format") != FORMAT or baseline.get("version") != VERSION:
        return ["the baseline is not a golden-outputs file of this version"], 0
    for line in differences(baseline["inputs"], current["inputs"], "inputs"):
        lines.append(f"{line} (not the baseline's data: pass the same --mnist and --photos)")
    if lines:
        return lines, 0
    compared = 0
    for name, result in current["cases"].items():
        if name not in baseline["cases"]:
            print(f"not in the baseline, not compared: {name}", file=sys.stderr)
            continue
        compared += 1
        lines += [f"{name}: {line}" for line in differences(baseline["cases"][name], result)]
    for name in baseline["cases"]:
        if name not in current["cases"]:
            print(f"in the baseline, not run now: {name}", file=sys.stderr)
    lines += invariant_differences(current["cases"])
    return lines, compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("record", "check", "list"))
    parser.add_argument(
        "file", nargs="?", help="record: the fingerprint file to write; check: the baseline"
    )
    parser.add_argument("--mnist", help="digits in class folders (default: the bundled 300)")
    parser.add_argument("--photos", help="photos (default: the bundled 12)")
    parser.add_argument("--quick", action="store_true", help="skip the Dask cases")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--parallel", type=int, default=1, help="cases run at once (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    if args.mode == "list":
        for case in CASES:
            print(case.name, *(f"\n    imgprep {command}" for command in case.commands), sep="")
        return 0
    if args.file is None:
        parser.error(f"{args.mode} needs a file")
    if args.mode == "check":
        baseline = json.loads(Path(args.file).read_text())
    current = run_all(args, baseline.get("inputs") if args.mode == "check" else None)
    if args.mode == "record":
        problems = list(failed_commands(current["cases"])) + list(
            invariant_differences(current["cases"])
        )
        Path(args.file).write_text(json.dumps(current, indent=1, ensure_ascii=False) + "\n")
        for line in problems:
            print(line)
        print(f"recorded {len(current['cases'])} runs in {args.file}")
        return 1 if problems else 0
    lines, compared = compare(baseline, current)
    for line in lines:
        print(line)
    if lines:
        print(f"{len(lines)} differences")
        return 1
    print(f"{compared} runs identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
