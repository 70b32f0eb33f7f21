"""The ZCA sidecar an HDF5 output names is read beside that output, or with allow_external."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.api import pipeline_from_hdf5, prepare_image
from imgprep.errors import ImgprepError
from tests.test_cli_zca import fitted, transform  # noqa: F401 (the fixture)


def test_a_sidecar_outside_the_outputs_folder_needs_allow_external(fitted, tmp_path: Path):  # noqa: F811
    root, stats, _ = fitted
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "out.h5"
    args = [str(root), "-o", str(out), "--stats", str(stats), "--zca", "--rescale", "1/255"]
    assert transform(*args).exit_code == 0
    sidecar = tmp_path / "s.zca.npz"
    with pytest.raises(ImgprepError) as caught:
        pipeline_from_hdf5(str(out))
    assert str(caught.value) == (
        f"{out}: its ZCA sidecar {sidecar} is not beside it; copy s.zca.npz next to {out}, or "
        "pass allow_external=True if you trust the file"
    )
    with h5py.File(out) as handle:
        row, source = handle["images"][0], handle["paths"][0].decode()
    trusted = pipeline_from_hdf5(str(out), allow_external=True)
    np.testing.assert_array_equal(prepare_image(trusted, str(root / source)), row)
    shutil.copy(sidecar, elsewhere / "s.zca.npz")
    sidecar.unlink()
    np.testing.assert_array_equal(
        prepare_image(pipeline_from_hdf5(str(out)), str(root / source)), row
    )
