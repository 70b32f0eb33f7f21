"""HDF5 files whose data lies elsewhere: external raw storage, external links, virtual
sources outside the file's folder are refused without --allow-external; virtual sources
that would read as zeros (missing dataset, other shape, other dtype, rows not covered) are
refused always. imgprep's own layout (shards in NAME.h5.shards beside NAME.h5, relative or,
through a symbolic link, absolute) is read without the flag."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.api import pipeline_from_hdf5
from imgprep.cli import main
from imgprep.errors import ImgprepError

IMAGES = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 1)
PIPELINE = json.dumps({"options": {}, "steps": []})


def _main_file(path: Path) -> Path:
    with h5py.File(path, "w") as handle:
        handle.attrs["pipeline"] = PIPELINE
    return path


def _virtual(path: Path, source: str, dset: str = "images", shape=IMAGES.shape, dtype=np.uint8):
    _main_file(path)
    with h5py.File(path, "a") as handle:
        layout = h5py.VirtualLayout(shape=IMAGES.shape, dtype=np.uint8)
        layout[0 : IMAGES.shape[0]] = h5py.VirtualSource(source, dset, shape=shape, dtype=dtype)
        handle.create_virtual_dataset("images", layout)
    return path


def _shard(path: Path, data: np.ndarray = IMAGES, name: str = "images") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle[name] = data
    return path


def _inspect(runner, path: Path, *args: str):
    return runner.invoke(main, ["inspect", str(path), "--json", "-q", *args])


def test_external_raw_storage_is_refused_unless_allowed(runner, tmp_path):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(bytes(range(18)))
    path = _main_file(tmp_path / "raw.h5")
    with h5py.File(path, "a") as handle:
        handle.create_dataset(
            "images", shape=IMAGES.shape, dtype=np.uint8, external=[(str(outside), 0, 18)]
        )
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: dataset 'images' stores its values in {outside} (external storage), "
        "outside the file; pass --allow-external (allow_external=True) if you trust it"
    )
    with pytest.raises(ImgprepError, match="external storage"):
        pipeline_from_hdf5(str(path))
    allowed = _inspect(runner, path, "--allow-external")
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["max"] == [17]
    pipeline_from_hdf5(str(path), allow_external=True)


def test_external_link_is_refused_unless_allowed(runner, tmp_path):
    other = _shard(tmp_path / "elsewhere" / "other.h5")
    path = _main_file(tmp_path / "link.h5")
    with h5py.File(path, "a") as handle:
        handle["images"] = h5py.ExternalLink(str(other), "/images")
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: 'images' is an external link to /images in {other}, outside the "
        "file; pass --allow-external (allow_external=True) if you trust it"
    )
    with pytest.raises(ImgprepError, match="external link"):
        pipeline_from_hdf5(str(path))
    allowed = _inspect(runner, path, "--allow-external")
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["max"] == [17]


@pytest.mark.parametrize("absolute", [False, True])
def test_virtual_sources_outside_the_folder_are_refused_unless_allowed(runner, tmp_path, absolute):
    other = _shard(tmp_path / "other.h5")
    (tmp_path / "inner").mkdir()
    source = str(other) if absolute else "../other.h5"
    path = _virtual(tmp_path / "inner" / "v.h5", source)
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: dataset 'images' reads 'images' in {source} (a virtual source), "
        "outside the folder of the file; pass --allow-external (allow_external=True) if you "
        "trust it"
    )
    with pytest.raises(ImgprepError, match="outside the folder"):
        pipeline_from_hdf5(str(path))
    allowed = _inspect(runner, path, "--allow-external")
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["images"] == 2


def test_imgprep_shards_beside_the_file_are_read_relative_or_through_a_link(runner, tmp_path):
    real = tmp_path / "real"
    shard = _shard(real / "out.h5.shards" / "part-00000.h5")
    relative = _virtual(real / "out.h5", "out.h5.shards/part-00000.h5")
    assert _inspect(runner, relative).exit_code == 0
    # -o through a symbolic link: the shards are named by absolute paths in the real folder
    absolute = _virtual(real / "abs.h5", str(shard))
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "abs.h5"
    link.symlink_to(absolute)
    result = _inspect(runner, link)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max"] == [17]
    assert pipeline_from_hdf5(str(link)).options.rescale is None


@pytest.mark.parametrize(
    ("data", "dset", "message"),
    [
        (IMAGES, "nope", "which has no such dataset (HDF5 would return zeros for it)"),
        (IMAGES[:, :, :2], "images", "of shape 2x3x2x1, but maps it as 2x3x3x1 (HDF5 would read "
         "a part of it, or zeros)"),
        (IMAGES.astype(np.float64), "images", "which holds float64, not uint8 (HDF5 would "
         "convert it silently)"),
    ],
)  # fmt: skip
def test_a_virtual_source_that_would_read_zeros_is_refused_even_when_allowed(
    runner, tmp_path, data, dset, message
):
    _shard(tmp_path / "v.h5.shards" / "part.h5", data)
    path = _virtual(tmp_path / "v.h5", "v.h5.shards/part.h5", dset=dset)
    for args in ([], ["--allow-external"]):
        result = _inspect(runner, path, *args)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"Error: {path}: dataset 'images' reads {dset!r} in v.h5.shards/part.h5, {message}"
        )
    with pytest.raises(ImgprepError, match=r"v\.h5\.shards/part\.h5"):
        pipeline_from_hdf5(str(path), allow_external=True)


def test_rows_no_virtual_source_covers_are_refused(runner, tmp_path):
    _shard(tmp_path / "v.h5.shards" / "part.h5", IMAGES[:1])
    path = _main_file(tmp_path / "v.h5")
    with h5py.File(path, "a") as handle:
        layout = h5py.VirtualLayout(shape=IMAGES.shape, dtype=np.uint8)
        layout[0:1] = h5py.VirtualSource("v.h5.shards/part.h5", "images", shape=(1, 3, 3, 1))
        handle.create_virtual_dataset("images", layout)
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: dataset 'images': its virtual sources do not cover every row (HDF5 "
        "would return zeros for the others)"
    )


def test_a_missing_shard_is_refused_and_not_looked_up_elsewhere(runner, tmp_path, monkeypatch):
    path = _virtual(tmp_path / "v.h5", "part.h5")
    elsewhere = tmp_path / "cwd"
    _shard(elsewhere / "part.h5")  # HDF5 would fall back to the working directory
    monkeypatch.chdir(elsewhere)
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: dataset 'images' reads part.h5, which is missing (HDF5 would return "
        "zeros for it); keep the .shards folder beside the file"
    )
    assert os.path.exists("part.h5")
