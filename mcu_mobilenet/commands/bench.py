"""`mcu-mobilenet bench`: time per inference on a board, with flash and RAM from the ELF."""

from __future__ import annotations

import argparse
import json

from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_board_arguments, resolve_backend
from mcu_mobilenet.table import format_table


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
        type=arguments.integer(1, 101),
        default=5,
        help="inferences to time, 1-101 (default 5)",
    )
    parser.add_argument("--seed", type=arguments.SEED, default=0, help="seed of the random input")
    parser.add_argument(
        "--no-tflm", dest="tflm", action="store_false", help="skip TFLM's arena figure"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mcu_mobilenet.boards import load_board
    from mcu_mobilenet.errors import UserError
    from mcu_mobilenet.harness.benchmark import bench_on_board

    if not 1 <= args.runs <= 101:
        raise UserError(f"--runs must be 1 to 101, not {args.runs}")
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
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(report: dict) -> str:
    unit = report["time_unit"]
    memory = report["memory"]
    rows = [
        [f"{unit} per inference (median)", report["time_per_inference"]],
        [f"{unit} min / max", f"{report['time_min']:,} / {report['time_max']:,}"],
        [f"{unit} per mult-add", report["time_per_mac"]],
        ["mult-adds", report["macs"]],
        ["flash: weights", memory["flash_weights"]],
        ["flash: code and data", memory["flash_code_and_data"]],
        ["flash: total", memory["flash_total"]],
        ["RAM: arena (activations and scratch)", memory["ram_arena"]],
        ["  of which scratch", report["scratch_bytes"]],
        ["RAM: static data", memory["ram_static"]],
        ["RAM: stack reserved (used)", f"{memory['ram_stack']:,} ({report['stack_bytes_used']:,})"],
        ["RAM: total", memory["ram_total"]],
    ]
    if report["tflm_arena_bytes"] is not None:
        rows.append(["TFLM arena, for comparison", report["tflm_arena_bytes"]])
    note = (
        "emulated instructions, not cycles"
        if unit == "instructions"
        else "core clock cycles (DWT CYCCNT)"
    )
    title = (
        f"{report['model']} on {report['board']} ({report['backend']} backend), "
        f"{report['runs']} runs ({note})"
    )
    return title + "\n" + format_table(["figure", "value"], rows, right={1})
