"""Path relations (imgprep.io.paths): the forms inputs and outputs are compared in."""

from __future__ import annotations

import os
from pathlib import Path

from imgprep.io.paths import is_inside, normal_paths


def test_normal_paths_resolve_links_and_relative_names(tmp_path: Path, monkeypatch):
    real = tmp_path / "real"
    (real / "cls").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert normal_paths(["link", "link/cls/a.png", "real/b.png", "s3://bucket/data/"]) == [
        str(real),
        os.path.join(str(real), "cls", "a.png"),
        os.path.join(str(real), "b.png"),
        "s3://bucket/data",
    ]


def test_inside_is_strictly_inside_and_not_a_shared_prefix():
    assert is_inside("/data/train/a.png", "/data/train")
    assert is_inside("/data/train/a.png", "/data/")
    assert not is_inside("/data/train", "/data/train")
    assert not is_inside("/data/training/a.png", "/data/train")
    assert is_inside("s3://bucket/data/a.png", "s3://bucket/data")
    assert not is_inside("s3://bucket/database/a.png", "s3://bucket/data")
