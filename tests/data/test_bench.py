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
