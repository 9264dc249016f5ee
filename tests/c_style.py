# SPDX-License-Identifier: Apache-2.0
"""Checks of C style shared by the tests: clang-format with the project's .clang-format."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mcu_mobilenet.paths import PROJECT_ROOT

CLANG_FORMAT_STYLE = PROJECT_ROOT / ".clang-format"


def clang_format_violations(paths: list[Path]) -> str:
    """clang-format's complaints about `paths` (empty when every file is formatted)."""
    tool = shutil.which("clang-format")
    assert tool, (
        "clang-format not found: `make setup` installs it (Debian: apt-get install clang-format)"
    )
    completed = subprocess.run(
        [tool, f"--style=file:{CLANG_FORMAT_STYLE}", "--dry-run", "-Werror", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    return completed.stderr if completed.returncode else ""
