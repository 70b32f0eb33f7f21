"""The README's two training examples, run as a user runs them: one epoch on the bundled
digits, well above chance (10 %) and under a minute; skipped without the framework."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


@pytest.mark.parametrize(
    ("script", "needs"), [("train_torch.py", "torch"), ("train_keras.py", "keras")]
)
def test_one_epoch_learns(script, needs):
    if importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} is not installed (an extra)")
    if needs == "keras" and not any(importlib.util.find_spec(b) for b in ("jax", "torch")):
        pytest.skip("no Keras backend installed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if needs == "keras" and importlib.util.find_spec("jax") is None:
        env["KERAS_BACKEND"] = "torch"
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    fields = dict(part.split("=") for part in done.stdout.split())
    assert fields["epochs"] == "1" and fields["train"] == "240" and fields["val"] == "60"
    assert float(fields["accuracy"]) > 0.3  # measured 0.483 (torch) and 0.667 (Keras, JAX)
    assert float(fields["seconds"]) < 60  # measured 5.9 and 8.0 s
