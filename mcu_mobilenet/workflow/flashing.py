# SPDX-License-Identifier: Apache-2.0
"""Programming a real board with pyocd or openocd, whichever is installed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mcu_mobilenet import processes
from mcu_mobilenet.boards import Board
from mcu_mobilenet.errors import UserError


def flash_command(board: Board, elf: Path) -> list[str]:
    tools = board.flash_tools
    if tools is None:
        raise UserError(f"{board.name} is not a real board; nothing to flash")
    if tools.pyocd_target and shutil.which("pyocd"):
        return ["pyocd", "flash", "--target", tools.pyocd_target, str(elf)]
    if tools.openocd_args and shutil.which("openocd"):
        return ["openocd", *tools.openocd_args, "-c", f"program {elf} verify reset exit"]
    raise UserError(
        f"neither pyocd nor openocd is installed to flash {board.name}: install one "
        f"(pip install pyocd), or flash {elf} yourself and pass --no-flash"
    )


def flash_firmware(board: Board, elf: Path) -> None:
    command = flash_command(board, elf)
    print(f"flashing {board.name}: {' '.join(command)}", file=sys.stderr)
    result = processes.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"flashing {board.name} with {command[0]} failed: {last}")
