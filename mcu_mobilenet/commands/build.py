# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet build`: a model compiled into the harness firmware for one board."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from mcu_mobilenet.boards import DEFAULT_BOARD, load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_backend_argument, resolve_backend
from mcu_mobilenet.io import refuse_existing
from mcu_mobilenet.table import format_table
from mcu_mobilenet.workflow.firmware import build_for_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build firmware for a board around a compiled model",
        description="Compile MODEL and build the harness firmware for BOARD into OUTDIR "
        "(firmware.elf, .map, .hex and, where the image starts at flash, .bin; the model's C "
        "sources). Prints flash and RAM read from the ELF; fails when the model does not fit "
        "the board.",
    )
    parser.add_argument("model", type=Path, help="int8 .tflite model")
    parser.add_argument(
        "--board",
        type=arguments.name_or_path,
        default=DEFAULT_BOARD,
        help=f"board (default {DEFAULT_BOARD})",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_backend_argument(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    board = load_board(args.board)
    output = args.output.resolve()
    refuse_existing(output, args.force)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the output and renamed into place: never a half-built folder.
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.building-"))
    try:
        built = build_for_model(args.model, board, staging, resolve_backend(args.backend, board))
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = build_report(args.model, board, built, output)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def build_report(model: Path, board, built, output: Path) -> dict:
    memory = built.firmware.memory
    return {
        "model": str(model),
        "board": board.name,
        "backend": built.compile_report["backend"],
        "elf": str(output / "firmware.elf"),
        "hex": str(output / "firmware.hex"),
        "bin": str(output / "firmware.bin") if (output / "firmware.bin").exists() else None,
        "build_id": built.firmware.build_id,
        "cpu_flags": board.cpu_flags,
        "flash_bytes": memory.flash_total,
        "ram_bytes": memory.ram_total,
        "arena_bytes": memory.ram_arena,
        "weights_bytes": memory.flash_weights,
        "macs": built.compile_report["macs"],
        "memory": memory.to_json(),
    }


def format_report(report: dict) -> str:
    memory = report["memory"]
    rows = [
        ["flash", "weights", memory["flash_weights"], ""],
        ["flash", "code and data", memory["flash_code_and_data"], ""],
        [
            "flash",
            "total",
            memory["flash_total"],
            _share(memory["flash_total"], memory["flash_capacity"]),
        ],
        ["RAM", "arena", memory["ram_arena"], ""],
        ["RAM", "static data", memory["ram_static"], ""],
        ["RAM", "stack", memory["ram_stack"], ""],
        ["RAM", "total", memory["ram_total"], _share(memory["ram_total"], memory["ram_capacity"])],
    ]
    return "\n".join([
        f"{report['model']} for {report['board']} ({' '.join(report['cpu_flags'])}, "
        f"{report['backend']} backend): "
        f"{report['elf']} (build {report['build_id']}; to flash: "
        f"{', '.join(filter(None, (report['hex'], report['bin'])))})",
        format_table(["memory", "part", "bytes", "of the board's"], rows, right={2, 3}),
    ])  # fmt: skip


def _share(used: int, capacity: int) -> str:
    return f"{100 * used / capacity:.1f}% of {capacity:,}"
