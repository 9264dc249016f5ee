# SPDX-License-Identifier: Apache-2.0
"""The licence: the Apache-2.0 text in LICENSE, and an SPDX line in every source file we wrote
and in every file the tool generates."""

from __future__ import annotations

from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.paths import PROJECT_ROOT
from mcu_mobilenet.workflow.firmware import build_for_model

SPDX = "SPDX-License-Identifier: Apache-2.0"
SOURCE_FOLDERS = ("mcu_mobilenet", "codegen", "firmware", "boards", "tests")
SOURCE_SUFFIXES = {".py", ".c", ".h", ".j2", ".ld", ".toml", ".resc"}
OTHER_SOURCES = ("Makefile", "firmware/Makefile", "pyproject.toml", ".ci/run", ".clang-format")
GENERATED_ELSEWHERE = ("tests/golden",)  # the generator's own output, checked below


def _carries_spdx(path: Path) -> bool:
    return any(SPDX in line for line in path.read_text().splitlines()[:3])


def _sources() -> list[Path]:
    found = [PROJECT_ROOT / name for name in OTHER_SOURCES]
    for folder in SOURCE_FOLDERS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if (
                path.is_file()
                and path.suffix in SOURCE_SUFFIXES
                and "__pycache__" not in path.parts
                and not relative.startswith(GENERATED_ELSEWHERE)
            ):
                found.append(path)
    return found


def test_the_licence_is_apache_2():
    text = (PROJECT_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_every_source_file_carries_an_spdx_line():
    sources = _sources()
    assert len(sources) > 150
    assert [
        str(path.relative_to(PROJECT_ROOT)) for path in sources if not _carries_spdx(path)
    ] == []


def test_every_generated_file_carries_an_spdx_line(tmp_path):
    built = build_for_model(
        Path(__file__).parent / "data" / "tiny.tflite", load_board("qemu-mps2-an386"), tmp_path
    )
    generated = [
        *(tmp_path / "model").glob("model_*"),
        tmp_path / "mm_build_config.h",
    ]
    assert len(generated) == 5 and built.firmware.elf.is_file()
    assert [path.name for path in generated if not _carries_spdx(path)] == []
