# SPDX-License-Identifier: Apache-2.0
"""Where the project's non-Python parts live (firmware sources, board definitions)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = PROJECT_ROOT / "firmware"
BOARDS_DIR = PROJECT_ROOT / "boards"
