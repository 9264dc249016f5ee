# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet bench`: time per inference on a board, with flash and RAM from the ELF."""

from __future__ import annotations

import argparse
import json

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_board_arguments, resolve_backend
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness.protocol import MAX_BENCH_RUNS
from mcu_mobilenet.reports import format_bench_report
from mcu_mobilenet.workflow.benchmark import bench_on_board


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time a model on a board (min, median, max of N runs)",
        description="Build the firmware for BOARD, run the model N times on the board and "
        "report the time per inference (emulated instructions under QEMU and Renode, cycles "
        "on real boards), per mult-add, and flash and RAM from the ELF, with TFLM's arena "
        "for comparison.",
    )
    add_board_arguments(parser)
    parser.add_argument(
        "--runs",
        type=arguments.integer(1, MAX_BENCH_RUNS),
        default=5,
        help=f"inferences to time, 1-{MAX_BENCH_RUNS} (default 5)",
    )
    parser.add_argument("--seed", type=arguments.SEED, default=0, help="seed of the random input")
    parser.add_argument(
        "--no-tflm", dest="tflm", action="store_false", help="skip TFLM's arena figure"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    if not 1 <= args.runs <= MAX_BENCH_RUNS:
        raise UserError(f"--runs must be 1 to {MAX_BENCH_RUNS}, not {args.runs}")
    board = load_board(args.board)
    report = bench_on_board(
        args.model,
        board,
        resolve_backend(args.backend, board),
        args.port,
        args.timeout,
        args.flash,
        args.runs,
        args.seed,
        args.tflm,
    )
    print(json.dumps(report, indent=2) if args.json else format_bench_report(report))
    return 0
