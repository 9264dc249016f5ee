# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet validate`: generated code against the TFLM reference, byte for byte."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import (
    add_backend_argument,
    add_image_arguments,
    resolve_backend,
)
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.workflow.validation import ValidationReport, validate_on_board, validate_on_host


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check generated code bit-exact against TFLM, on the host or on a board",
        description="Compile MODEL, run seeded random inputs and the given images through the "
        "generated code (on the host, or on a board) and through the TFLM reference "
        "interpreter, and compare every output byte. Exits 1 on any mismatch.",
    )
    parser.add_argument("model", type=Path, help="int8 .tflite model")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--target",
        choices=["host"],
        default="host",
        help="host: build with gcc under AddressSanitizer and UBSan (default)",
    )
    where.add_argument(
        "--board",
        type=arguments.name_or_path,
        help="run on this board instead (see `mcu-mobilenet boards`): started in its emulator, "
        "or a real board behind --port",
    )
    parser.add_argument("--port", metavar="URL", help="with --board: the real board's serial port")
    add_backend_argument(
        parser,
        "kernel backend: portable or cmsis-nn (default: portable on the host; on a board, "
        "cmsis-nn when it is a Cortex-M and CMSIS-NN is available, else portable)",
    )
    parser.add_argument(
        "--timeout",
        type=arguments.POSITIVE,
        metavar="SECONDS",
        help="with --board: longest wait for a reply",
    )
    parser.add_argument(
        "--no-flash",
        dest="flash",
        action="store_false",
        help="with --port: do not flash, the board already runs this build",
    )
    parser.add_argument(
        "--inputs", type=arguments.COUNT, default=10, help="seeded random inputs (default 10)"
    )
    parser.add_argument("--seed", type=arguments.SEED, default=0, help="seed of the random inputs")
    add_image_arguments(parser)
    parser.add_argument(
        "--per-layer",
        action="store_true",
        help="on the host: also compare every intermediate tensor and name the first layer "
        "that differs",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    if args.inputs < 0:
        raise UserError("--inputs must be 0 or more")
    if args.inputs == 0 and not args.image:
        raise UserError("nothing to validate: give --inputs N (N > 0) or --image FILE")
    if args.board is None:
        if args.port:
            raise UserError("--port needs --board (the board behind the port)")

        report = validate_on_host(
            args.model,
            args.inputs,
            args.image,
            args.seed,
            args.per_layer,
            args.pixels,
            resolve_backend(args.backend),
        )
    else:
        if args.per_layer:
            raise UserError("--per-layer runs on the host; on a board, `profile` times layers")

        board = load_board(args.board)
        report = validate_on_board(
            args.model,
            board,
            args.port,
            resolve_backend(args.backend, board),
            args.inputs,
            args.image,
            args.seed,
            args.pixels,
            args.timeout,
            args.flash,
        )
    if args.json:
        print(json.dumps(asdict(report) | {"passed": report.passed}, indent=2))
    else:
        print(format_report(report))
    return 0 if report.passed else 1


def format_report(report: ValidationReport) -> str:
    lines = [
        f"{report.model} on {report.target}: {report.bit_exact}/{report.inputs} outputs "
        "bit-exact with TFLM"
    ]
    for sample in report.outputs:
        if not sample["input"].startswith("random"):
            timing = f"; {sample['time']:,} {sample['time_unit']}" if "time" in sample else ""
            lines.append(
                f"  {sample['input']}: {sample['output']} (TFLM {sample['reference']}{timing})"
            )
    for mismatch in report.mismatches:
        lines.append(
            f"  MISMATCH {mismatch.input_name}: {mismatch.differing_bytes} bytes differ, first "
            f"at {list(mismatch.first_index)}: ours {mismatch.ours}, TFLM {mismatch.reference}"
        )
    if report.layers_compared:
        layer = report.first_layer_mismatch
        if layer is None:
            lines.append(f"  per layer: all {report.layers_compared} layer outputs bit-exact")
        else:
            lines.append(
                f"  per layer: first difference at layer {layer.index} ({layer.op}): "
                f"{layer.differing_bytes} of {layer.total_bytes} bytes differ"
            )
    return "\n".join(lines)
