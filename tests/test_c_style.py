# SPDX-License-Identifier: Apache-2.0
"""C style held by tools: every hand-written and every generated C file is clang-formatted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from c_style import clang_format_violations

from mcu_mobilenet import cmsis_nn_release
from mcu_mobilenet.paths import BOARDS_DIR, FIRMWARE_DIR
from mcu_mobilenet.workflow.compile import compile_model

DATA = Path(__file__).parent / "data"
LINE_LIMIT = 100
HAND_WRITTEN_C = sorted(
    path for folder in (FIRMWARE_DIR, BOARDS_DIR) for path in folder.rglob("*.[ch]")
)


def test_hand_written_c_is_clang_formatted():
    assert len(HAND_WRITTEN_C) > 30
    assert clang_format_violations(HAND_WRITTEN_C) == ""


def test_hand_written_c_lines_fit_the_line_limit():
    long_lines = [
        f"{path.relative_to(FIRMWARE_DIR.parent)}:{number}"
        for path in HAND_WRITTEN_C
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if len(line) > LINE_LIMIT
    ]
    assert long_lines == []


def test_clang_format_catches_unformatted_code(tmp_path):
    source = tmp_path / "bad.c"
    source.write_text("int f(void) { return 0; }\n")
    assert "bad.c" in clang_format_violations([source])


def _backends() -> list[str]:
    if cmsis_nn_release.locate() is not None or os.environ.get("MCU_REQUIRE_CMSIS_NN") == "1":
        return ["portable", "native", "cmsis-nn"]
    return ["portable", "native"]


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("prefix", ["tiny", "a_long_model_prefix_that_makes_long_lines"])
def test_generated_c_is_clang_formatted(tmp_path, backend, prefix):
    result = compile_model(DATA / "tiny.tflite", tmp_path, prefix, backend)
    generated = sorted(tmp_path.glob(f"{prefix}_*"))
    assert [path.name for path in generated] == [
        f"{prefix}_model.c",
        f"{prefix}_model.h",
        f"{prefix}_weights.c",
        f"{prefix}_weights.h",
    ]
    kernels = [path for path in result.files if path.parent.name == "kernels"]
    assert clang_format_violations(generated + kernels) == ""
