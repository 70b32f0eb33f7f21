"""Stats files and ZCA sidecars on disk (imgprep.io.stats_io, imgprep.io.zca_sidecar)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import imgprep
from imgprep.errors import InputError
from imgprep.io.stats_io import read_stats, read_stats_files, write_stats
from imgprep.io.zca_sidecar import read_sidecar, read_zca, write_sidecar, zca_sidecar_path
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from imgprep.stats.zca import ZcaAccumulator


def _stats(rng: np.random.Generator, shape=(3, 2, 1)) -> tuple[Stats, np.ndarray]:
    images = rng.integers(0, 256, (5, *shape), dtype=np.uint8)
    accumulator = MomentAccumulator()
    accumulator.update(images)
    return Stats(accumulator, image_shape=list(shape), inputs=["d"]), images


def test_the_public_api_writes_and_reads_the_same_bytes(tmp_path: Path, rng):
    stats, images = _stats(rng)
    path = tmp_path / "s.json"
    imgprep.write_stats(stats, str(path))
    assert path.read_text() == stats.to_json()
    loaded = imgprep.read_stats(str(path))
    assert loaded.source_path == str(path) and loaded.to_json() == stats.to_json()
    pixels = images.astype(np.float64)
    assert loaded.mean.tolist() == [pixels.mean()]
    assert loaded.std[0] == pytest.approx(pixels.std(), rel=1e-15)


def test_a_zca_pair_records_the_sidecar_it_writes(tmp_path: Path, rng):
    stats, images = _stats(rng)
    moments = ZcaAccumulator(shape=(3, 2, 1))
    moments.update(images)
    fit = moments.fit(epsilon=1e-3, rescale=0.5)
    path = tmp_path / "s.json"
    write_stats(stats, str(path), zca=fit)
    sidecar = Path(zca_sidecar_path(str(path)))
    assert sidecar == tmp_path / "s.zca.npz"
    described = json.loads(path.read_text())["zca"]
    assert described == {
        "file": "s.zca.npz",
        "sha256": hashlib.sha256(sidecar.read_bytes()).hexdigest(),
        "zca_epsilon": 1e-3,
        "rescale": 0.5,
        "shape": [3, 2, 1],
        "dimension": 6,
        "images": 5,
        "exact": True,
    }
    loaded = read_zca(str(path), read_stats(str(path)).zca)
    assert loaded.whitening.tobytes() == fit.whitening.tobytes()
    assert loaded.mean.tobytes() == fit.mean.tobytes()
    assert (loaded.epsilon, loaded.rescale, loaded.count) == (1e-3, 0.5, 5)


def test_a_sidecar_written_alone_reads_back_checked(tmp_path: Path, rng):
    _, images = _stats(rng)
    moments = ZcaAccumulator(shape=(3, 2, 1))
    moments.update(images)
    fit = moments.fit()
    path = str(tmp_path / "alone.zca.npz")
    digest = write_sidecar(fit, path)
    assert digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert read_sidecar(path, digest, shape=(3, 2, 1)).eigenvalues.tobytes() == (
        fit.eigenvalues.tobytes()
    )


def test_one_file_twice_is_refused_before_reading(tmp_path: Path, rng):
    stats, _ = _stats(rng)
    path = tmp_path / "s.json"
    write_stats(stats, str(path))
    (tmp_path / "link.json").symlink_to(path)
    with pytest.raises(InputError) as caught:
        read_stats_files([str(path), str(tmp_path / "link.json")])
    assert str(caught.value) == (
        f"{path} and {tmp_path / 'link.json'} are one file: merging a stats file with itself "
        "would count its images twice"
    )
