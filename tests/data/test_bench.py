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
