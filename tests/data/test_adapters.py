"""The PyTorch and Keras adapters: a real DataLoader with workers (fork and spawn), a real
Keras 3 ``model.fit``; skipped when the framework is absent (they are extras, not in the
test extra). The one-line error naming the extra runs everywhere."""

from __future__ import annotations

import os
import sys

import h5py
import numpy as np
import pytest

from imgprep.data import H5Images, keras_dataset, torch_loader
from imgprep.errors import InputError

TABLE = {"rotation_range": 15, "horizontal_flip": True}


@pytest.mark.parametrize(
    ("call", "module", "message"),
    [
        (lambda p: torch_loader(p, 4), "torch", "torch_loader needs torch, which is not "
         "installed: pip install 'imgprep[torch]'"),
        (lambda p: keras_dataset(p, 4), "keras", "keras_dataset needs keras, which is not "
         "installed: pip install 'imgprep[keras]'"),
    ],
)  # fmt: skip
def test_a_missing_framework_names_its_extra(plain, monkeypatch, call, module, message):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(InputError) as caught:
        call(plain)
    assert str(caught.value) == message


def batches_of(loader) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in loader]


# Both start methods: fork (Linux's default) reuses nothing of the parent's HDF5 handle.
@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_torch_batches_are_identical_for_any_number_of_workers(plain, context):
    pytest.importorskip("torch")
    expected = H5Images(plain, augment=TABLE, seed=6, shuffle=True)
    runs = {}
    for workers in (0, 1, 2):
        loader = torch_loader(
            plain, 4, workers, augment=TABLE, seed=6, shuffle=True,
            multiprocessing_context=context,
        )  # fmt: skip
        runs[workers] = [batches_of(loader), batches_of(loader)]  # epochs 0 and 1
    for epoch in (0, 1):
        expected.set_epoch(epoch)
        images = np.stack([expected[i][0] for i in range(14)]).transpose(0, 3, 1, 2)
        labels = np.array([expected[i][1] for i in range(14)])
        for workers, epochs in runs.items():
            got = epochs[epoch]
            assert [len(y) for _, y in got] == [4, 4, 4, 2]
            x = np.concatenate([x for x, _ in got])
            assert x.dtype == np.float32 and x.shape == (14, 3, 12, 10), workers
            np.testing.assert_array_equal(x, images.astype(np.float32))
            np.testing.assert_array_equal(np.concatenate([y for _, y in got]), labels)
    assert not np.array_equal(runs[0][0][0][0], runs[0][1][0][0])  # epochs differ


def test_torch_set_epoch_and_ranks(plain):
    pytest.importorskip("torch")
    loader = torch_loader(plain, 3, shuffle=True, seed=2, rank=1, world_size=2)
    loader.set_epoch(5)
    rows = np.concatenate([y.numpy() for _, y in loader])
    part = H5Images(plain, shuffle=True, seed=2, rank=1, world_size=2, epoch=5)
    with h5py.File(plain, "r") as f:
        np.testing.assert_array_equal(rows, f["labels"][:][part.rows_of_epoch()])
    assert loader.dataset.epoch == 5


def test_large_batches_cross_from_fork_workers_in_shared_memory(plain, monkeypatch):
    """(Before the Keras tests: a fork after JAX is imported may deadlock.) Batches of
    ``TENSOR_BYTES`` or more are written into a shared-memory tensor in the
    worker (lowered here so the small fixture takes that path; fork workers inherit it):
    the same values as with no workers, where they travel as arrays."""
    pytest.importorskip("torch")
    from imgprep.data import torch_adapter

    expected = batches_of(torch_loader(plain, 4, 0, augment=TABLE, seed=6, shuffle=True))
    monkeypatch.setattr(torch_adapter, "TENSOR_BYTES", 1)
    loader = torch_loader(
        plain, 4, 2, augment=TABLE, seed=6, shuffle=True, multiprocessing_context="fork"
    )
    got = list(loader)
    assert all(images.is_shared() for images, _ in got)
    for (images, labels), (want_x, want_y) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(images.numpy(), want_x)
        np.testing.assert_array_equal(labels.numpy(), want_y)


def test_keras_fit_one_epoch_and_fresh_epochs(plain, monkeypatch):
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        backend = "jax" if _importable("jax") else "torch" if _importable("torch") else None
        if backend is None:
            pytest.skip("no Keras backend installed")
        monkeypatch.setenv("KERAS_BACKEND", backend)
    keras = pytest.importorskip("keras")
    data = keras_dataset(plain, 4, augment=TABLE, seed=1, shuffle=True)
    assert len(data) == 4
    x, y = data[0]
    assert x.dtype == np.float32 and x.shape == (4, 12, 10, 3) and y.shape == (4,)
    first = x.copy()
    model = keras.Sequential(
        [keras.Input((12, 10, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(4, 3),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(data.dataset.epoch)
    )
    history = model.fit(data, epochs=2, verbose=0, callbacks=[record])
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert seen == [0, 1] and data.dataset.epoch == 2  # fit's look at batch 0 is no epoch
    assert not np.array_equal(data[0][0], first)
    data.dataset.set_epoch(0)
    np.testing.assert_array_equal(data[0][0], first)


def test_keras_epoch_ends_advance_once_every_batch_was_read(plain, monkeypatch):
    """Outside fit (a hand-written loop): the first end after a whole pass advances too."""
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        if not _importable("jax"):
            pytest.skip("no Keras backend installed")
        monkeypatch.setenv("KERAS_BACKEND", "jax")
    pytest.importorskip("keras")
    data = keras_dataset(plain, 4, seed=1, shuffle=True)
    for index in range(len(data)):
        data[index]
    data.on_epoch_end()
    data.on_epoch_end()
    assert data.dataset.epoch == 2


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_torchrun_ranks_read_disjoint_equal_parts(plain, tmp_path):
    """Two processes started by torchrun (the documented recipe) see each epoch's shuffled
    order cut in two: together every row but the dropped remainder, no row twice."""
    pytest.importorskip("torch")
    import subprocess

    script = os.path.join(os.path.dirname(__file__), "torchrun_ranks.py")
    out = tmp_path / "seen"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-port", "29517", script, str(plain), str(out)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    parts = [np.load(f"{out}.{rank}.npy") for rank in (0, 1)]
    with h5py.File(plain) as f:
        rows = f["images"][:].astype(np.float32).sum(axis=(1, 2, 3))
    for epoch in (0, 1):
        whole = H5Images(plain, shuffle=True, seed=3, epoch=epoch)
        half = len(whole) // 2
        assert len(parts[0][epoch]) == len(parts[1][epoch]) == half
        got = np.concatenate([part[epoch] for part in parts])
        np.testing.assert_array_equal(got, rows[whole.rows_of_epoch()][: 2 * half])
    assert not np.array_equal(parts[0][0], parts[0][1])  # each epoch its own order


def test_torch_pin_memory_without_an_accelerator_warns_as_the_dataloader_does(plain):
    torch = pytest.importorskip("torch")
    if torch.accelerator.is_available():
        pytest.skip("an accelerator is present: batches are pinned")
    with pytest.warns(UserWarning, match="no accelerator is found"):
        loader = torch_loader(plain, 5, pin_memory=True)
    images, labels = next(iter(loader))
    assert isinstance(images, torch.Tensor) and not images.is_pinned()
    assert images.shape == (5, 3, 12, 10) and labels.dtype == torch.int64


FORK_AFTER_OPENCV = """
import sys
import cv2
import numpy as np
from imgprep.data import torch_loader

# The parent runs OpenCV's thread pool on a large array before the workers are forked.
big = np.zeros((2048, 2048, 3), np.uint8)
cv2.LUT(big, np.zeros((1, 256, 3), np.float32))
cv2.warpAffine(big, np.eye(2, 3), (2048, 2048))
loader = torch_loader(sys.argv[1], 4, 2, augment={"rotation_range": 15}, seed=1,
                      multiprocessing_context="fork")
print(sum(len(labels) for _, labels in loader))
"""


def test_fork_workers_after_opencv_threads_ran_in_the_parent_do_not_hang(plain):
    """``cv2.setNumThreads`` in such a worker hung forever (it was the loader's
    ``worker_init_fn``): the loader sets nothing in OpenCV."""
    import subprocess

    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, "-c", FORK_AFTER_OPENCV, str(plain)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["14"]
