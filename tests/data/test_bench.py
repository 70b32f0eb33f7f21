"""``bench/data_bench.py``'s cases still run against the library (on 3,000 rows)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_data_bench_cases(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delitem(sys.modules, "data_bench", raising=False)
    import data_bench

    results = data_bench.main_bench(3000, tmp_path)
    assert [name for name, _ in results] == [
        "h5py per row, in order",
        "h5py per row, shuffled",
        "H5Images in order",
        "H5Images shuffle=True",
        "H5Images block_shuffle=1024",
        "H5Images shuffle=True, 4 MB cache",
        "H5Images block_shuffle=1024, 4 MB cache",
        "H5Images shuffle=True + augment",
    ]
    assert all(rate > 0 for _, rate in results)


def test_loader_bench_cases(tmp_path, monkeypatch):
    """``bench/loader_bench.py``'s four loaders each read one whole epoch (skipped without
    torch): the same rows, counted."""
    import pytest

    torch = pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delitem(sys.modules, "data_bench", raising=False)
    import data_bench
    import loader_bench

    path = data_bench.make_file(tmp_path, 500)
    names = []
    for name, loader in loader_bench.cases(path, tmp_path):
        seen, seconds, memory = loader_bench.epoch(loader)
        assert seen == 500 and seconds > 0 and memory.uss <= memory.rss, name
        names.append(name)
    assert len(names) == 4 and isinstance(torch.__version__, str)


def test_loader_peers_bench_cases_that_need_no_peer(folder, tmp_path, monkeypatch):
    """``bench/loader_peers_bench.py``'s imgprep case on a small folder (skipped without
    torch; the ImageFolder and tf.data cases need torchvision and TensorFlow, not here)."""
    import pytest

    from tests.data.conftest import transform

    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(BENCH))
    import loader_peers_bench
    from click.testing import CliRunner

    from imgprep.cli import main

    h5, stats = tmp_path / "f.h5", tmp_path / "stats.json"
    transform(str(folder[0]), "-o", str(h5))
    assert CliRunner().invoke(main, ["fit-stats", str(folder[0]), "-o", str(stats)]).exit_code == 0
    paths = {"tree": str(folder[0]), "h5": str(h5), "stats": str(stats)}
    mean, std = loader_peers_bench.moments(str(stats))
    assert len(mean) == 3 and all(s > 0 for s in std)
    for augment in (False, True):
        rates = loader_peers_bench.imgprep_epochs(paths, augment, 2)
        assert len(rates) == 2 and all(rate > 0 for rate in rates)
