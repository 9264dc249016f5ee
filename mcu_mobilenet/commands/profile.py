# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet profile`: time per layer of a model on a board."""

from __future__ import annotations

import argparse
import json

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands.board_options import (
    add_board_arguments,
    add_input_arguments,
    collect_inputs,
    resolve_backend,
)
from mcu_mobilenet.table import format_table
from mcu_mobilenet.workflow.benchmark import profile_on_board


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="time each layer of a model on a board",
        description="Build the firmware for BOARD, run one input and report each layer's "
        "time, share and time per mult-add (the timer is read after every layer).",
    )
    add_board_arguments(parser)
    add_input_arguments(parser, 1)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    board = load_board(args.board)

    def choose_input(tensor):
        names, inputs = collect_inputs(args, tensor, 1)
        return names[0], inputs[0]

    report = profile_on_board(
        args.model,
        board,
        resolve_backend(args.backend, board),
        args.port,
        args.timeout,
        args.flash,
        choose_input,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(report: dict) -> str:
    unit = report["time_unit"]
    rows = [
        [
            layer["index"],
            layer["op"],
            layer["kernel"],
            layer["macs"],
            layer["time"],
            f"{100 * layer['share']:.1f}%",
            "" if layer["time_per_mac"] is None else f"{layer['time_per_mac']:.2f}",
        ]
        for layer in report["layers"]
    ]
    headers = ["#", "op", "kernel", "mult-adds", unit, "share", f"{unit}/MAC"]
    title = (
        f"{report['model']} on {report['board']} ({report['backend']} backend): "
        f"{report['time_per_inference']:,} {unit} "
        f"per inference ({report['input']})"
    )
    return title + "\n" + format_table(headers, rows, right={0, 3, 4, 5, 6})
