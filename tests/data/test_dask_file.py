"""The Dask engine's output (a main file joining shards by virtual datasets) reads as the
local engine's: the same rows, labels, blocks and augmented copies."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from imgprep.data import H5Images
from tests.data.conftest import transform

pytestmark = pytest.mark.dask  # starts a real LocalCluster of 2 workers


def test_virtual_datasets_read_as_the_local_file(plain, folder, tmp_path):
    sharded = tmp_path / "dask.h5"
    transform(str(folder[0]), "-o", str(sharded), "--engine", "dask", "--partition-size", "4")
    with h5py.File(sharded, "r") as f:
        assert f["images"].is_virtual
    local, joined = H5Images(plain, with_paths=True), H5Images(sharded, with_paths=True)
    assert len(joined) == len(local) == 14
    for i in range(14):
        for a, b in zip(local[i], joined[i], strict=True):
            np.testing.assert_array_equal(a, b)
    table = {"rotation_range": 15, "horizontal_flip": True}
    for epoch in (0, 3):
        a = H5Images(plain, augment=table, seed=2, epoch=epoch, shuffle=True)
        b = H5Images(sharded, augment=table, seed=2, epoch=epoch, shuffle=True)
        np.testing.assert_array_equal(
            np.stack([a[i][0] for i in range(14)]), np.stack([b[i][0] for i in range(14)])
        )
