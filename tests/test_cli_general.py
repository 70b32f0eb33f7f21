"""Every command has help; version; examples; the demo runs and prints real numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import imgprep
from imgprep.cli import main


def test_every_command_has_help_with_exit_codes():
    runner = CliRunner()
    context = click.Context(main)
    names = main.list_commands(context)
    assert names == ["demo", "examples", "export-stats", "fit-stats", "inspect", "transform"]
    for name in names:
        command = main.get_command(context, name)
        assert command is not None and command.name == name
        assert command.help, f"{name} has no help text"
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0
        assert isinstance(command, click.Command)
    top = runner.invoke(main, ["--help"])
    codes = " ".join(top.stdout.split())
    assert "Exit codes: 0 ok, 1 data error, failed check or unwritable output, 2 usage" in codes
    assert "130 Ctrl-C, 143 SIGTERM." in codes
    for name in ("fit-stats", "inspect"):
        assert "Exit codes" in runner.invoke(main, [name, "--help"]).stdout


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.stdout.strip() == f"imgprep, version {imgprep.__version__}"


def test_examples_are_listed_and_complete():
    result = CliRunner().invoke(main, ["examples"])
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["mnist", "photos"]
    mnist = Path(CliRunner().invoke(main, ["examples", "mnist"]).stdout.strip())
    assert mnist == Path(imgprep.example_path("mnist"))
    assert sorted(p.name for p in mnist.iterdir()) == [str(d) for d in range(10)]
    assert len(list(mnist.rglob("*.png"))) == 300
    assert len(list(Path(imgprep.example_path("photos")).rglob("*.jpg"))) == 12


def test_demo_prints_statistics_that_match_numpy(tmp_path: Path):
    result = CliRunner().invoke(main, ["demo", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    digits = np.stack(
        [
            np.asarray(Image.open(p), dtype=np.float64)
            for p in sorted(Path(imgprep.example_path("mnist")).rglob("*.png"))
        ]
    )
    match = re.search(r"^   mean (\S+)  std (\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    assert float(match.group(1)) == pytest.approx(digits.mean(), rel=1e-12)
    assert float(match.group(2)) == pytest.approx(digits.std(), rel=1e-12)
    match = re.search(r"largest relative difference: (\S+)", result.stdout)
    assert match and float(match.group(1)) < 1e-12
    assert "identical: True" in result.stdout
    assert "equals the stored row: True" in result.stdout
    train = re.search(r"train: 240 images, mean (\S+), std (\S+)", result.stdout)
    assert train and abs(float(train.group(1))) < 1e-5 and abs(float(train.group(2)) - 1) < 1e-5
    assert (tmp_path / "mnist.h5").exists()
    assert (tmp_path / "mnist-stats.json").exists() and (tmp_path / "photos-stats.json").exists()


def test_python_dash_m_runs():
    result = subprocess.run(
        [sys.executable, "-m", "imgprep", "--version"], capture_output=True, text=True, check=True
    )
    assert imgprep.__version__ in result.stdout


def _stderr_on_a_terminal(args: list[str]) -> str:
    """Run the CLI with stderr on a pseudo-terminal (100 columns); what it printed there."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    command = [sys.executable, "-m", "imgprep", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    printed = b""
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        printed += data
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return printed.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_progress_bar_only_on_a_terminal_and_not_with_quiet(tmp_path: Path):
    root = tmp_path / "data"
    root.mkdir()
    for index in range(5):
        Image.fromarray(np.full((4, 4), index, np.uint8)).save(root / f"{index}.png")
    out = tmp_path / "s.json"
    shown = _stderr_on_a_terminal(["fit-stats", str(root), "-o", str(out)])
    assert "100%|" in shown and "5/5" in shown
    quiet = _stderr_on_a_terminal(["fit-stats", str(root), "-o", str(out), "-q"])
    assert "%|" not in quiet
    piped = subprocess.run(
        [sys.executable, "-m", "imgprep", "fit-stats", str(root), "-o", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "%|" not in piped.stderr and "fit-stats: wrote" in piped.stderr


def test_a_mistyped_command_gets_suggestions():
    result = CliRunner().invoke(main, ["fit-stat"])
    assert result.exit_code == 2
    assert "Did you mean one of: 'export-stats', 'fit-stats'?" in result.stderr


def test_submodules_are_attributes_of_the_package_as_before():
    """Exports load on first use; submodules stay reachable as attributes after import."""
    script = (
        "import imgprep, sys\n"
        "assert 'imgprep.run.transform_pass' not in sys.modules\n"  # nothing heavy at import
        "assert imgprep.errors.ImgprepError is imgprep.ImgprepError\n"
        "import imgprep.stats.file, imgprep.run.stats_pass\n"
        "assert imgprep.stats.file.Stats is imgprep.Stats\n"
        "assert imgprep.run.stats_pass.compute_stats is imgprep.compute_stats\n"
        "try:\n"
        "    imgprep.no_such_thing\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_demo_leaves_nothing_in_the_temporary_folder(tmp_path: Path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert os.listdir(tmp_path) == []
    assert result.output.endswith("now removed; --keep keeps them)\n")
    kept = CliRunner().invoke(main, ["demo", "--keep"])
    assert kept.exit_code == 0
    (folder,) = os.listdir(tmp_path)
    assert kept.output.endswith(f"The demo's files are in {tmp_path / folder}\n")
    assert sorted(os.listdir(tmp_path / folder)) == [
        "mnist-stats.json", "mnist.h5", "photos-stats.json"
    ]  # fmt: skip
