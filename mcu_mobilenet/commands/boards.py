# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet boards`: the boards the firmware builds for."""

from __future__ import annotations

import argparse
import json

from mcu_mobilenet.boards import list_boards
from mcu_mobilenet.table import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "boards",
        help="list the boards",
        description="List the board definitions in boards/: CPU, flash, RAM, how each runs.",
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    rows = [
        {
            "name": board.name,
            "cpu": board.cpu,
            "cpu_flags": " ".join(board.cpu_flags),
            "flash_bytes": board.flash.size,
            "ram_bytes": board.ram.size,
            "runs_on": {"qemu": "QEMU", "renode": "Renode"}.get(board.emulator, "real board"),
            "time_unit": board.time_unit,
            "description": board.description,
        }
        for board in list_boards()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ["board", "cpu", "flash", "RAM", "runs on", "timed in"]
    keys = ["name", "cpu", "flash_bytes", "ram_bytes", "runs_on", "time_unit"]
    print(format_table(headers, [[row[key] for key in keys] for row in rows], right={2, 3}))
    return 0
