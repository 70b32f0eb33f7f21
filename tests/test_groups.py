"""Group-aware splits (``transform --split ... --group-by REGEX`` / ``--groups FILE.csv``)."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgprep.cli import main
from imgprep.errors import InputError
from imgprep.groups import GroupRule, group_split, read_group_table
from tests.conftest import write_image

FRACTIONS = (("train", 0.7), ("val", 0.2), ("test", 0.1))


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=30),
    labels=st.lists(st.integers(0, 2), min_size=30, max_size=30),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_group_is_whole_and_every_image_placed_once(sizes, labels, seed):
    groups = [f"g{g}" for g, size in enumerate(sizes) for _ in range(size)]
    image_labels = [labels[g % 30] for g, size in enumerate(sizes) for _ in range(size)]
    parts = group_split(image_labels, groups, FRACTIONS, seed)
    placed = sorted(i for indices in parts.values() for i in indices)
    assert placed == list(range(len(groups)))
    where = {i: name for name, indices in parts.items() for i in indices}
    for group in set(groups):
        assert len({where[i] for i, g in enumerate(groups) if g == group}) == 1
    assert parts == group_split(image_labels, groups, FRACTIONS, seed)  # reproducible
    for indices in parts.values():
        assert indices == sorted(indices)


def test_many_small_groups_reach_the_asked_fractions_per_class(rng):
    labels = [int(v) for v in rng.integers(0, 3, 3000)]
    groups = [f"{label}-{i // 3}" for i, label in enumerate(labels)]  # single-class groups
    parts = group_split(labels, groups, FRACTIONS, 7)
    for name, fraction in FRACTIONS:
        chosen = np.array(labels)[parts[name]]
        for label in range(3):
            share = (chosen == label).sum() / labels.count(label)
            assert share == pytest.approx(fraction, abs=0.01)


def test_rules_from_a_pattern_and_from_a_table():
    rels = ["cat/p01_a.png", "dog/p01_b.png", "cat/p02_a.png"]
    assert GroupRule(pattern=r"(p\d+)_").groups(rels) == ["p01", "p01", "p02"]
    assert GroupRule(pattern=r"p\d+").groups(rels) == ["p01", "p01", "p02"]
    with pytest.raises(InputError, match=r"^x.png: 'group_by' 'p\\\\d\+' does not match"):
        GroupRule(pattern=r"p\d+").groups(["x.png"])
    with pytest.raises(InputError, match="invalid 'group_by'"):
        GroupRule(pattern="(")
    table = read_group_table(b"path,group\ncat/p01_a.png,A\ndog/p01_b.png,A\n", "g.csv")
    assert table == {"cat/p01_a.png": "A", "dog/p01_b.png": "A"}
    with pytest.raises(InputError, match=r"^cat/p02_a\.png: not in the groups file g\.csv$"):
        GroupRule(table=table, source="g.csv").groups(rels)
    with pytest.raises(InputError, match="line 2: a is in two groups"):
        read_group_table(b"a,1\na,2\n", "g.csv")
    with pytest.raises(InputError, match="line 1: expected path,group"):
        read_group_table(b"a\n", "g.csv")


@pytest.fixture
def patients(tmp_path: Path, rng) -> Path:
    """12 patients x 3 scans, the scans of one patient nearly identical (a leak if split)."""
    for patient in range(12):
        base = rng.integers(0, 200, (16, 16, 3))
        label = "sick" if patient % 3 == 0 else "well"
        for scan in range(3):
            noisy = np.clip(base + scan, 0, 255).astype(np.uint8)
            write_image(tmp_path / "data" / label / f"patient{patient:02d}_scan{scan}.png", noisy)
    return tmp_path / "data"


def _groups_of(path: Path, split: str) -> set[str]:
    with h5py.File(path) as handle:
        return {re.search(r"patient\d+", p.decode()).group(0) for p in handle[f"{split}/paths"]}


def test_transform_keeps_each_patient_in_one_split(runner, patients, tmp_path):
    out = tmp_path / "out.h5"
    args = ["transform", str(patients), "-o", str(out), "--split", "train=0.75,val=0.25",
            "--seed", "3", "--group-by", r"(patient\d+)_"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _groups_of(out, "train").isdisjoint(_groups_of(out, "val"))
    assert len(_groups_of(out, "train")) + len(_groups_of(out, "val")) == 12
    assert "transform: groups kept whole; split fractions train 0.750 (asked 0.75), val 0.250 " \
           "(asked 0.25)" in result.stderr  # fmt: skip
    check = runner.invoke(main, ["inspect", str(out), "--fail-on-leakage", "-q", "--near", "8"])
    assert check.exit_code == 0, check.stderr


def test_a_plain_split_of_the_same_data_leaks_and_the_gate_says_so(runner, patients, tmp_path):
    out = tmp_path / "plain.h5"
    args = ["transform", str(patients), "-o", str(out), "--split", "train=0.75,val=0.25",
            "--seed", "3"]  # fmt: skip
    assert runner.invoke(main, args).exit_code == 0
    check = runner.invoke(main, ["inspect", str(out), "--fail-on-leakage", "-q", "--near", "8"])
    assert check.exit_code == 1 and "check failed: leakage: val:" in check.stderr


def test_groups_from_a_csv_file_and_the_refusals(runner, patients, tmp_path):
    rows = ["path,group"] + [
        f"{p.parent.name}/{p.name},{p.name.split('_')[0]}" for p in sorted(patients.rglob("*.png"))
    ]
    table = tmp_path / "groups.csv"
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "csv.h5"
    base = ["transform", str(patients), "--split", "train=0.5,val=0.5", "--seed", "1"]
    result = runner.invoke(main, [*base, "-o", str(out), "--groups", str(table)])
    assert result.exit_code == 0, result.output
    assert _groups_of(out, "train").isdisjoint(_groups_of(out, "val"))
    both = runner.invoke(main, [*base, "-o", str(tmp_path / "x.h5"), "--groups", str(table),
                                "--group-by", "x"])  # fmt: skip
    assert both.exit_code == 2
    assert both.stderr.splitlines()[-1] == "Error: give one of --group-by and --groups"
    alone = runner.invoke(main, ["transform", str(patients), "-o", str(tmp_path / "y.h5"),
                                 "--group-by", "x"])  # fmt: skip
    assert alone.exit_code == 2
    assert alone.stderr.splitlines()[-1] == (
        "Error: --group-by and --groups decide how --split divides one input; give --split too"
    )


def test_inspect_checks_the_split_transform_would_make(runner, patients):
    base = ["inspect", str(patients), "--split", "train=0.75,val=0.25", "--seed", "3",
            "--fail-on-leakage", "--near", "8", "-q"]  # fmt: skip
    plain = runner.invoke(main, base)
    assert plain.exit_code == 1 and "check failed: leakage: val:" in plain.stderr
    assert "split    train" in plain.stdout and "split    val" in plain.stdout
    grouped = runner.invoke(main, [*base, "--group-by", r"(patient\d+)_"])
    assert grouped.exit_code == 0, grouped.stderr
    assert "images   27" in grouped.stdout and "images   9" in grouped.stdout
    bad = runner.invoke(main, ["inspect", str(patients), "--split", "train=0.5,val=0.5"])
    assert bad.exit_code == 2
    assert bad.stderr.splitlines()[-1] == (
        "Error: --split needs --seed so that the split can be reproduced"
    )


def test_group_keys_in_a_toml_config(runner, patients, tmp_path):
    rows = ["path,group"] + [
        f"{p.parent.name}/{p.name},{p.name.split('_')[0]}" for p in sorted(patients.rglob("*.png"))
    ]
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "groups.csv").write_text("\n".join(rows) + "\n")
    for key, value in (("group-by", r'"(patient\\d+)_"'), ("groups", '"groups.csv"')):
        config = tmp_path / "cfg" / f"{key}.toml"
        config.write_text(f'split = "train=0.75,val=0.25"\nseed = 3\n{key} = {value}\n')
        out = tmp_path / f"{key}.h5"
        result = runner.invoke(main, ["transform", str(patients), "-o", str(out), "-q",
                                      "--config", str(config)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert _groups_of(out, "train").isdisjoint(_groups_of(out, "val"))
