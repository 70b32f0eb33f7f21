"""The layout rules of the README, checked on the source with ``ast``.

Data flows one way: stats/ and transforms/ compute on arrays and documents and never touch a
file or the engine. ``violations`` lists what a package imports or calls against such a
rule; to hold another package to it, add a row to ``RULES``. Every module of the package
stays under ``MAX_LINES``, and only ``imgprep/cli/`` imports click or tqdm.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import NamedTuple

import pytest

import imgprep

SOURCE = Path(imgprep.__file__).parent

# Calls that reach the filesystem or the machine (os.path.join, basename, isabs are string
# functions and stay allowed).
FILE_CALLS = frozenset(
    {
        "open",
        "io.open",
        *(
            f"os.{name}"
            for name in (
                "open", "fdopen", "stat", "lstat", "fstat", "replace", "rename", "unlink",
                "remove", "mkdir", "makedirs", "rmdir", "listdir", "scandir", "walk", "fsync",
                "chmod", "link", "symlink", "sysconf", "getenv", "environ.get",
            )
        ),
        *(
            f"os.path.{name}"
            for name in ("exists", "isfile", "isdir", "islink", "getsize", "getmtime", "realpath")
        ),
        *(f"{np}.{name}" for np in ("np", "numpy") for name in ("load", "save", "savez",
                                                                "fromfile", "memmap")),
    }
)  # fmt: skip
ARRAYS_ONLY_IMPORTS = (
    "imgprep.io",
    "imgprep.run",
    "h5py",
    "tomllib",
    "click",
    "shutil",
    "pathlib",
)


class Rule(NamedTuple):
    package: str  # under imgprep/
    imports: tuple[str, ...]  # modules (and their submodules) it must not import
    calls: frozenset[str]  # dotted names it must not call


RULES = [
    Rule("stats", ARRAYS_ONLY_IMPORTS, FILE_CALLS),
    Rule("transforms", ARRAYS_ONLY_IMPORTS, FILE_CALLS),
]
MAX_LINES = 400


def _dotted(node: ast.expr) -> str | None:
    """``os.path.exists`` for the callee of a call, None when it is not a plain name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The full names a statement imports (``from imgprep import io`` -> ``imgprep.io``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the module's package
        package = module.split(".")[: -node.level]
        base = ".".join([*package, *([base] if base else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _matches(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


def violations(root: Path, package: str, imports: tuple[str, ...], calls: frozenset[str]):
    """Every forbidden import and call in the modules of ``root / package``, as
    ``module:line: what`` (a module imported as ``import imgprep.x`` is named so)."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        module = ".".join(["imgprep", *path.relative_to(root).with_suffix("").parts])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{module}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = _imported(node, module)
                bad = [n for n in names if _matches(n, imports) or n in calls]
                if bad:
                    found.append((module, node.lineno, f"{where}: imports {bad[0]}"))
            elif isinstance(node, ast.Call):
                callee = _dotted(node.func)
                if callee in calls:
                    found.append((module, node.lineno, f"{where}: calls {callee}()"))
    return [text for _, _, text in sorted(found)]


@pytest.mark.parametrize("rule", RULES, ids=[rule.package for rule in RULES])
def test_arrays_only_packages_touch_no_file_and_no_engine(rule: Rule):
    assert violations(SOURCE, rule.package, rule.imports, rule.calls) == []


def test_no_module_is_over_400_lines():
    """One job per module: none of the package's modules (the command line's included)."""
    long = {
        str(path.relative_to(SOURCE)): lines
        for path in sorted(SOURCE.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_check_finds_each_kind_of_violation(tmp_path: Path):
    package = tmp_path / "stats"
    package.mkdir()
    (package / "bad.py").write_text(
        "import os\n"
        "import h5py\n"
        "from imgprep.io.bounded import read_regular_file\n"
        "from ..run import engine\n"
        "from imgprep import io\n"
        "from os import replace\n"
        "import numpy as np\n"
        "os.path.join('a', 'b')\n"
        "open('x')\n"
        "os.replace('a', 'b')\n"
        "np.savez('f', a=1)\n"
    )
    assert violations(tmp_path, "stats", ARRAYS_ONLY_IMPORTS, FILE_CALLS) == [
        "imgprep.stats.bad:2: imports h5py",
        "imgprep.stats.bad:3: imports imgprep.io.bounded",
        "imgprep.stats.bad:4: imports imgprep.run",
        "imgprep.stats.bad:5: imports imgprep.io",
        "imgprep.stats.bad:6: imports os.replace",
        "imgprep.stats.bad:9: calls open()",
        "imgprep.stats.bad:10: calls os.replace()",
        "imgprep.stats.bad:11: calls np.savez()",
    ]


def test_only_the_command_line_imports_click_or_tqdm():
    """The library raises and reports through callbacks; flags, exit codes and progress bars
    are the command line's (``imgprep/cli/``)."""
    found = violations(SOURCE, ".", ("click", "tqdm"), frozenset())
    assert [line for line in found if not line.startswith("imgprep.cli.")] == []
    assert any(line.startswith("imgprep.cli.") for line in found)  # the check sees imports


# Helpers that build per-file reasons (stored in outputs' skip lists as the command line
# shows them) may name flags; every other library message names options with option().
REASONS_WITH_FLAGS = {"pixels.py"}


def test_library_messages_name_no_flag():
    """An error raised below ``imgprep/cli/`` names options with ``errors.option(key)``: the
    command line renders them as flags, ``str()`` as Python names."""
    flag = re.compile(r"(?<![\w-])--(?:[a-z]|$)")  # f"--{key}" leaves a constant "--"
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.relative_to(SOURCE).parts[0] == "cli" or path.name in REASONS_WITH_FLAGS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                texts = [
                    part.value
                    for part in ast.walk(node.exc)
                    if isinstance(part, ast.Constant) and isinstance(part.value, str)
                ]
                if any(flag.search(text) for text in texts):
                    found.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert found == []
