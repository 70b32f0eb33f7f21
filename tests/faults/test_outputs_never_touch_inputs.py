"""Outputs never touch inputs: a PNG tree stays inside -o, an output is never an input, and
--overwrite deletes only a tree imgprep wrote (imgprep.plan)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from imgprep.cli import main
from tests.conftest import listing, make_dataset, write_image


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root`` with its content hash and modification time."""
    out = {}
    for rel in listing(root):
        path = root / rel
        out[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return out


@pytest.fixture
def data(tmp_path: Path, rng) -> Path:
    root = tmp_path / "data"
    make_dataset(root, rng, per_class=2, shape=(6, 5, 3))
    return root


def transform(runner, *args: str, input: str | None = None):
    return runner.invoke(main, ["transform", "-q", *args], input=input)


def test_absolute_paths_on_stdin_stay_inside_the_png_tree(runner, data: Path, tmp_path: Path):
    before = fingerprint(tmp_path)
    paths = "".join(f"{data / rel}\n" for rel in listing(data))
    out = tmp_path / "out"
    result = transform(runner, "-", "-o", str(out), "--size", "4x4", input=paths)
    assert result.exit_code == 0, result.output
    assert {k: v for k, v in fingerprint(tmp_path).items() if not k.startswith("out/")} == before
    assert listing(out) == [
        "cat/000.png", "cat/001.png", "dog/000.png", "dog/001.png", "imgprep.json"
    ]  # fmt: skip
    assert np.asarray(__import__("PIL.Image").Image.open(out / "cat/000.png")).shape == (4, 4, 3)


def test_an_absolute_file_is_named_inside_the_tree(runner, data: Path, tmp_path: Path):
    before = fingerprint(data)
    out = tmp_path / "out"
    result = transform(runner, str(data / "cat" / "000.png"), "-o", str(out), "--size", "4x4")
    assert result.exit_code == 0, result.output
    assert fingerprint(data) == before
    assert listing(out) == ["000.png", "imgprep.json"]


def test_a_parent_relative_file_is_named_inside_the_tree(
    runner, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = fingerprint(tmp_path)
    result = transform(runner, "../data/cat/001.png", "../data/dog/000.png", "-o", "out")
    assert result.exit_code == 0, result.output
    assert listing(work / "out") == ["cat/001.png", "dog/000.png", "imgprep.json"]
    after = {k: v for k, v in fingerprint(tmp_path).items() if not k.startswith("work/out/")}
    assert after == before


def test_two_files_that_would_get_one_name_are_refused_before_any_work(runner, tmp_path: Path, rng):
    folder = tmp_path / "mixed"
    write_image(folder / "x.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    write_image(folder / "x.jpg", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    result = transform(runner, str(folder), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: two inputs would both be written as x.png: x.jpg and x.png; rename one of them\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_file_named_like_a_copy_is_refused_when_copies_are_written(runner, tmp_path: Path, rng):
    folder = tmp_path / "flat"
    for name in ("x.png", "x_copy2.png"):
        write_image(folder / name, rng.integers(0, 256, (4, 4), dtype=np.uint8))
    args = [str(folder), "-o", str(tmp_path / "out"), "--horizontal-flip", "--seed", "1"]
    result = transform(runner, *args, "--copies", "2")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: two inputs would both be written as x_copy2.png: x_copy2.png and copy 2 of "
        "x.png; rename x_copy2.png\n"
    )
    assert transform(runner, *args, "--copies", "1").exit_code == 0


def test_a_name_too_long_once_it_is_a_copy_is_one_line(runner, tmp_path: Path, rng):
    folder = tmp_path / "flat"
    name = "n" * 249 + ".png"  # 253 bytes: fits, but not as NAME_copy10.png
    write_image(folder / name, rng.integers(0, 256, (4, 4), dtype=np.uint8))
    args = [str(folder), "-o", str(tmp_path / "out"), "--horizontal-flip", "--seed", "1"]
    result = transform(runner, *args, "--copies", "10")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {name}: the output name {'n' * 249}_copy10.png would be longer than the 255 "
        "bytes the file system allows; rename the file or write HDF5\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["transform", "{data}/cat/000.png", "-o", "{data}/cat/000.png", "--format", "hdf5"],
            "Error: the output {data}/cat/000.png is the input {data}/cat/000.png; write it "
            "elsewhere",
        ),
        (
            ["fit-stats", "{data}", "-o", "{data}/cat/000.png"],
            "Error: the output file {data}/cat/000.png is inside the input {data}, so a later "
            "run would read it as input; write it elsewhere",
        ),
        (
            ["transform", "{data}", "-o", "{data}/out"],
            "Error: the output folder {data}/out is inside the input {data}, so a later run "
            "would read it as input; write it elsewhere",
        ),
        (
            ["transform", "{data}", "-o", "{data}"],
            "Error: the output {data} is the input folder {data}",
        ),
        (
            ["transform", "{data}", "-o", "{tmp}/o.h5", "--preview", "{data}/cat/000.png",
             "--horizontal-flip", "--seed", "1"],
            "Error: the preview {data}/cat/000.png is inside the input {data}, so a later run "
            "would read it as input; write it elsewhere".replace("preview", "preview file", 1),
        ),
    ],
)  # fmt: skip
def test_an_output_that_is_an_input_is_refused_before_any_work(
    runner, data: Path, tmp_path: Path, command: list[str], message: str
):
    before = fingerprint(tmp_path)
    args = [part.format(data=data, tmp=tmp_path) for part in command]
    result = runner.invoke(main, [*args, "-q"])
    assert result.exit_code == 2, result.output
    assert result.stderr == message.format(data=data) + "\n"
    assert fingerprint(tmp_path) == before


def test_overwrite_never_deletes_an_input(runner, tmp_path: Path, rng):
    parent = tmp_path / "par"
    make_dataset(parent / "train", rng, per_class=1, shape=(4, 4, 3))
    make_dataset(parent / "val", rng, per_class=1, shape=(4, 4, 3))
    before = fingerprint(parent)
    result = transform(runner, str(parent / "train"), "-o", str(parent), "--overwrite")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the output folder {parent} holds the input {parent / 'train'}; --overwrite "
        "would delete it\n"
    )
    assert fingerprint(parent) == before


def test_overwrite_replaces_only_a_tree_imgprep_wrote(runner, data: Path, tmp_path: Path):
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "thesis.txt").write_text("years of work")
    result = transform(runner, str(data), "-o", str(mine), "--overwrite")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {mine} is not a PNG tree written by imgprep (it has no imgprep.json); "
        "--overwrite replaces only those: remove it yourself or choose another folder\n"
    )
    assert (mine / "notes" / "thesis.txt").read_text() == "years of work"
    tree = tmp_path / "tree"
    assert transform(runner, str(data / "cat"), "-o", str(tree)).exit_code == 0
    assert transform(runner, str(data), "-o", str(tree), "--overwrite").exit_code == 0
    assert listing(tree) == [
        "cat/000.png", "cat/001.png", "dog/000.png", "dog/001.png", "imgprep.json"
    ]  # fmt: skip


def test_two_runs_writing_one_tree_do_not_replace_each_other(data: Path, tmp_path: Path):
    from imgprep.errors import ImgprepError
    from imgprep.io.formats.png import PngWriter

    target = tmp_path / "tree"
    image = np.zeros((2, 2, 1), np.uint8)

    def fill(writer: PngWriter, name: str) -> None:
        writer.start_split(None, labelled=False)
        writer.write([image], [name], [None])
        writer.end_split(skipped=[])
        writer.finish({})

    first, second = PngWriter(str(target)), PngWriter(str(target))
    with second:
        fill(second, "second.png")
    with pytest.raises(ImgprepError) as caught, first:
        fill(first, "first.png")
    assert str(caught.value) == (
        f"cannot write {target}: another run wrote it while this one ran; this run's output "
        "was discarded"
    )
    assert listing(target) == ["imgprep.json", "second.png"]
    assert sorted(os.listdir(tmp_path)) == ["data", "tree"]  # no temporary folder left


@pytest.mark.parametrize(
    "named",
    [
        ("train={data}", "val={data}"),
        ("train={data}", "test={data}/cat"),
        ("test={data}/cat", "train={data}"),
    ],
)
def test_named_inputs_that_overlap_are_refused(runner, data: Path, tmp_path: Path, named):
    args = [arg for text in named for arg in ("--input", text.format(data=data))]
    result = transform(runner, *args, "-o", str(tmp_path / "o.h5"))
    assert result.exit_code == 2
    first, second = (text.format(data=data) for text in named)
    if first.split("=")[1] == second.split("=")[1]:
        expected = f"{first} and {second} are the same images; each would be in two splits"
    else:
        inner, outer = (first, second) if "cat" in first else (second, first)
        expected = f"{inner} is inside {outer}; its images would be in two splits"
    assert result.stderr == f"Error: inputs overlap: {expected}\n"
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("name", ["train.hdf", "x.txt", "out.tar", "a.png"])
def test_an_output_suffix_imgprep_does_not_write_is_refused(
    runner, data: Path, tmp_path: Path, name: str
):
    result = transform(runner, str(data), "-o", str(tmp_path / name))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: cannot tell what to write to {tmp_path / name}: name an HDF5 file .h5 or "
        ".hdf5, or a folder for a PNG tree (or say which with --format)\n"
    )
    assert os.listdir(tmp_path) == ["data"]
    assert (
        transform(runner, str(data), "-o", str(tmp_path / name), "--format", "png").exit_code == 0
    )


@pytest.mark.parametrize("name", ["mnist-1.0", "run.v2"])
def test_a_folder_name_with_a_dot_is_a_png_tree(runner, data: Path, tmp_path: Path, name: str):
    result = transform(runner, str(data), "-o", str(tmp_path / name))
    assert result.exit_code == 0, result.output
    assert (tmp_path / name / "imgprep.json").is_file()


def test_a_merge_may_not_overwrite_one_of_its_inputs(runner, data: Path, tmp_path: Path):
    halves = []
    for name in ("cat", "dog"):
        halves.append(str(tmp_path / f"{name}.json"))
        assert runner.invoke(main, ["fit-stats", str(data / name), "-o", halves[-1]]).exit_code == 0
    before = fingerprint(tmp_path)
    result = runner.invoke(main, ["fit-stats", "--merge", *halves, "-o", halves[0]])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"Error: the output {halves[0]} is the input {halves[0]}; write it elsewhere\n"
    )
    assert fingerprint(tmp_path) == before
    merged = runner.invoke(
        main, ["fit-stats", "--merge", *halves, "-o", str(tmp_path / "all.json")]
    )
    assert merged.exit_code == 0, merged.output
    assert '"images": 4' in (tmp_path / "all.json").read_text()


def test_a_link_to_an_input_folder_is_that_folder(runner, data: Path, tmp_path: Path):
    (tmp_path / "link").symlink_to(data)
    result = runner.invoke(main, ["fit-stats", str(data), str(tmp_path / "link"), "-q"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path / 'link'} is given twice (as {data} and {tmp_path / 'link'})\n"
    )


def test_relative_files_named_one_by_one_keep_their_path(
    runner, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    result = transform(runner, "data/cat/000.png", "./data/dog/001.png", "-o", "out")
    assert result.exit_code == 0, result.output
    assert listing(tmp_path / "out") == ["data/cat/000.png", "data/dog/001.png", "imgprep.json"]


def test_the_library_checks_the_output_rules_too(data: Path):
    """plan_transform called directly (no command line before it) refuses the same outputs."""
    from imgprep.errors import InputError
    from imgprep.run.transform_plan import TransformRequest, plan_transform

    request = TransformRequest(inputs=[str(data)], output=str(data / "out"), fmt="png")
    with pytest.raises(InputError, match="is inside the input"):
        plan_transform(request)
    assert not (data / "out").exists()


@pytest.mark.parametrize(("output", "sheet", "where"), [
    ("t.h5", "t.h5", "is"),
    ("tree", "tree/sheet.png", "is inside"),
])  # fmt: skip
def test_the_preview_is_never_written_where_the_output_goes(
    runner, dataset, tmp_path: Path, output: str, sheet: str, where: str
):
    """The HDF5 output replaced a preview of the same name, silently; a preview inside the PNG
    tree would be read as one of its images."""
    root, _ = dataset
    result = runner.invoke(main, [
        "transform", str(root), "-o", str(tmp_path / output), "--rotation-range", "5",
        "--seed", "2", "--preview", str(tmp_path / sheet), "-q",
    ])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the preview {tmp_path / sheet} {where} the output {tmp_path / output}; "
        "write it elsewhere\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["data"]
