"""compute_stats: worker and batch invariance, error policy, provenance."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, ImgprepError, InputError
from imgprep.run.local import LocalRunner
from imgprep.run.stats_pass import compute_stats
from tests.conftest import reference_stats, write_image


def test_stats_match_two_pass_numpy(dataset):
    root, arrays = dataset
    stats = compute_stats([str(root)])
    ref = reference_stats(list(arrays.values()))
    np.testing.assert_allclose(stats.mean, ref["mean"], rtol=1e-10)
    np.testing.assert_allclose(stats.std, ref["std"], rtol=1e-10)
    assert stats.global_mean == pytest.approx(ref["global_mean"], rel=1e-10)
    assert stats.global_std == pytest.approx(ref["global_std"], rel=1e-10)
    assert stats.images == 10 and stats.image_shape == [12, 10, 3]


@pytest.mark.parametrize(("workers", "batch_size"), [(1, 1), (1, 3), (2, 1), (2, 4), (2, 256)])
def test_output_bytes_do_not_depend_on_workers_or_batch_size(dataset, workers, batch_size):
    root, _ = dataset
    reference = compute_stats([str(root)], workers=1, batch_size=256).to_json()
    assert compute_stats([str(root)], workers=workers, batch_size=batch_size).to_json() == reference


@pytest.mark.parametrize("workers", [1, 2])
def test_the_default_batch_size_gives_the_same_bytes(dataset, workers):
    root, _ = dataset
    reference = compute_stats([str(root)], workers=1, batch_size=1).to_json()
    assert compute_stats([str(root)], workers=workers).to_json() == reference


@pytest.mark.parametrize(
    ("files", "workers", "expected"),
    [
        (60_000, 1, 1024),  # small files: large tasks, little per-task overhead
        (60_000, 2, 1024),
        (400, 2, 25),  # photos: 16 tasks, 8 per worker
        (400, 1, 50),
        (10, 4, 16),  # never below 16 files
        (1_000_000, 128, 977),
    ],
)
def test_auto_batch_size_gives_each_worker_several_tasks(files, workers, expected):
    from imgprep.run.stats_pass import auto_batch_size

    assert auto_batch_size(files, LocalRunner(workers)) == expected


def test_float_images_are_also_batch_invariant(tmp_path: Path, rng):
    from PIL import Image

    arrays = [rng.normal(100, 30, (5 + i, 4)).astype(np.float32) for i in range(7)]
    for i, array in enumerate(arrays):
        Image.fromarray(array, "F").save(tmp_path / f"{i}.tif")
    outputs = {
        compute_stats([str(tmp_path)], workers=w, batch_size=b).to_json()
        for w, b in [(1, 1), (1, 3), (2, 2), (1, 100)]
    }
    assert len(outputs) == 1
    stats = compute_stats([str(tmp_path)])
    ref = reference_stats([a[:, :, None] for a in arrays])
    np.testing.assert_allclose(stats.std, ref["std"], rtol=1e-10)


def test_file_order_does_not_change_the_statistics(dataset):
    root, _ = dataset
    files = sorted(str(p) for p in root.rglob("*.png"))
    forward = compute_stats(files)
    backward = compute_stats(files[::-1])
    assert forward.to_dict()["accumulators"] == backward.to_dict()["accumulators"]
    assert forward.mean.tolist() == backward.mean.tolist()


def _add_bad_files(root: Path) -> list[str]:
    (root / "cat" / "001b.png").write_bytes(b"")
    (root / "dog" / "002b.png").write_bytes(b"not a png")
    return [str(root / "cat" / "001b.png"), str(root / "dog" / "002b.png")]


def test_stop_raises_at_the_first_bad_file_in_input_order(dataset):
    root, _ = dataset
    bad = _add_bad_files(root)
    for workers in (1, 2):
        with pytest.raises(DecodeError) as info:
            compute_stats([str(root)], workers=workers, batch_size=2)
        assert info.value.path == bad[0]
        assert info.value.reason == "empty file (0 bytes)"


def test_skip_records_every_bad_file_and_counts_add_up(dataset):
    root, arrays = dataset
    bad = _add_bad_files(root)
    seen: list[str] = []
    stats = compute_stats(
        [str(root)], on_error="skip", batch_size=3, on_skip=lambda p, r: seen.append(p)
    )
    assert [s["path"] for s in stats.skipped] == bad == seen
    assert stats.images + len(stats.skipped) == stats.provenance["files"] == 12
    ref = reference_stats(list(arrays.values()))
    np.testing.assert_allclose(stats.mean, ref["mean"], rtol=1e-10)


def test_all_files_bad_is_a_data_error(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ImgprepError, match="none of the 1 files could be read"):
        compute_stats([str(tmp_path)], on_error="skip")


def test_mixed_channels_name_the_file_and_suggest_color(tmp_path: Path, rng):
    write_image(tmp_path / "a.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    write_image(tmp_path / "b.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    with pytest.raises(DecodeError) as info:
        compute_stats([str(tmp_path)])
    assert info.value.path == str(tmp_path / "b.png")
    assert "--color" in info.value.reason
    stats = compute_stats([str(tmp_path)], settings=DecodeSettings(color="rgb"))
    assert stats.channels == 3 and stats.images == 2


def test_mixed_bit_depths_are_refused(tmp_path: Path, rng):
    write_image(tmp_path / "a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    write_image(tmp_path / "b.png", rng.integers(0, 65535, (4, 4), dtype=np.uint16))
    with pytest.raises(DecodeError, match="uint16 but the images before it are uint8"):
        compute_stats([str(tmp_path)])


def test_provenance_hash_changes_with_content_not_with_workers(dataset):
    root, _ = dataset
    first = compute_stats([str(root)]).provenance["files_sha256"]
    assert compute_stats([str(root)], workers=2).provenance["files_sha256"] == first
    target = root / "cat" / "000.png"
    os.utime(target, ns=(1, 1))
    assert compute_stats([str(root)]).provenance["files_sha256"] != first


def test_bad_arguments_are_input_errors(dataset):
    root, _ = dataset
    with pytest.raises(InputError, match="on_error"):
        compute_stats([str(root)], on_error="ignore")
    with pytest.raises(InputError) as caught:
        compute_stats([str(root)], workers=0)
    assert str(caught.value) == "workers must be an integer of at least 1, got 0"
    with pytest.raises(InputError) as caught:
        compute_stats([str(root)], batch_size=0)
    assert str(caught.value) == "batch_size must be at least 1, got 0"


def test_local_runner_keeps_task_order_with_workers():
    assert list(LocalRunner(2).map_batches(abs, [-3, 1, -2, 5, -8], window=2)) == [3, 1, 2, 5, 8]


def test_a_single_path_string_is_accepted(dataset):
    root, _ = dataset
    assert compute_stats(str(root)).images == 10


def _slow_identity(value: int) -> int:
    import time

    time.sleep(0.05)
    return value


def test_abandoned_or_failed_runs_leave_no_worker_processes():
    import multiprocessing

    results = LocalRunner(2).map_batches(_slow_identity, range(50))
    assert next(results) == 0
    results.close()  # the consumer stops early (an error, Ctrl-C): the pool is terminated
    assert multiprocessing.active_children() == []
    with pytest.raises(ZeroDivisionError):
        list(LocalRunner(2).map_batches(_divide_into_one, [1, 0, 2]))
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_is_a_one_line_error_not_a_hang():
    import multiprocessing

    with pytest.raises(ImgprepError, match="a worker process died"):
        list(LocalRunner(2).map_batches(_exit_abruptly, [1, 2, 3, 4]))
    assert multiprocessing.active_children() == []


def _exit_abruptly(value: int) -> int:
    os._exit(3)  # as the kernel's OOM killer would stop a worker


def _divide_into_one(value: int) -> float:
    return 1 / value
