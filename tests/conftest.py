# SPDX-License-Identifier: Apache-2.0
"""Shared test fixtures: the reference models beside the project, and the CLI entry point."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcu_mobilenet.cli import main as cli_main
from mcu_mobilenet.paths import PROJECT_ROOT

SHARED_MODELS = PROJECT_ROOT.parent / "shared" / "models"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not (SHARED_MODELS / "person_detect.tflite").is_file():
        pytest.skip(f"reference models not found at {SHARED_MODELS} (a user's clone)")
    return SHARED_MODELS


@pytest.fixture(scope="session")
def person_detect(shared_models) -> Path:
    return shared_models / "person_detect.tflite"


def load_person_image(path: Path) -> np.ndarray:
    """The shared BMPs hold int8 input values as raw bytes (see ../shared/models/README.md)."""

    pixels = np.asarray(Image.open(path))
    return pixels.view(np.int8).reshape(pixels.shape[0], pixels.shape[1], 1)


@pytest.fixture
def run_cli(capsys):
    """Runs `mcu-mobilenet ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as exit_:  # argparse usage errors
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
