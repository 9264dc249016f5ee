# SPDX-License-Identifier: Apache-2.0
"""Real, briefly trained int8 MobileNets for any test (see mcu_mobilenet.model.quick).

Import the fixture into a test module and ask it for models:

    from model_fixtures import quantized_mobilenet  # noqa: F401

    def test_something(quantized_mobilenet):
        tflite_path = quantized_mobilenet(alpha=0.5, resolution=32)

Each model is made once per test run (about 10 s) and shared by the pytest-xdist workers
through a file lock; the same arguments always give the same bytes.
"""

from __future__ import annotations

import fcntl
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import pytest

from mcu_mobilenet.cli import main
from mcu_mobilenet.model.quick import make_quantized_mobilenet


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_test_dir(tmp_path_factory, name: str) -> Path:
    """A folder of this test run that every xdist worker sees."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def quantized_mobilenet(tmp_path_factory) -> Callable[..., Path]:
    """make(alpha=0.25, resolution=32, channels=3, classes=4, steps=20, seed=0) -> .tflite"""
    cache = shared_test_dir(tmp_path_factory, "quantized-mobilenets")

    def make(
        alpha: float = 0.25,
        resolution: int = 32,
        channels: int = 3,
        classes: int = 4,
        steps: int = 20,
        seed: int = 0,
    ) -> Path:
        name = f"mobilenet_a{alpha:g}_r{resolution}_c{channels}_k{classes}_s{steps}_{seed}"
        path = cache / f"{name}.tflite"
        with _exclusive(cache / f"{name}.lock"):
            if not path.exists():
                make_quantized_mobilenet(path, alpha, resolution, channels, classes, steps, seed)
        return path

    return make


# The training run the train, quantize and evaluate tests share: alpha 0.25 at 32x32 on
# 1500 synthetic images, 4 epochs (about 15 s on 2 cores).
TRAIN_ARGS = (
    "--alpha", "0.25", "--resolution", "32", "--data", "synthetic:1500",
    "--epochs", "4", "--batch-size", "16", "--learning-rate", "0.01", "--seed", "0",
)  # fmt: skip


@pytest.fixture(scope="session")
def trained_mobilenet(tmp_path_factory) -> tuple[Path, str]:
    """(model.keras, the stdout of `mcu-mobilenet train ... --json`) of TRAIN_ARGS."""

    folder = shared_test_dir(tmp_path_factory, "trained-mobilenet")
    model, stdout = folder / "model.keras", folder / "train-stdout.json"
    with _exclusive(folder / "train.lock"):
        if not stdout.exists():
            captured = io.StringIO()
            with redirect_stdout(captured):
                code = main(["train", *TRAIN_ARGS, "--json", "-o", str(model)])
            assert code == 0, "mcu-mobilenet train failed"
            stdout.write_text(captured.getvalue())
    return model, stdout.read_text()
