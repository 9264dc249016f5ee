# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet run`: a model on a board, emulated or real; prints outputs and times."""

from __future__ import annotations

import argparse
import json

import numpy as np

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands.board_options import (
    add_board_arguments,
    add_input_arguments,
    collect_inputs,
    resolve_backend,
)
from mcu_mobilenet.table import format_table
from mcu_mobilenet.workflow.session import open_session

DEFAULT_INPUTS = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a model on a board and print its outputs and times",
        description="Build the firmware for BOARD, start its emulator (or open --port), send "
        "each input and print the output bytes, the top class and the time per inference.",
    )
    add_board_arguments(parser)
    add_input_arguments(parser, DEFAULT_INPUTS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    board = load_board(args.board)
    results = []
    with open_session(
        args.model, board, args.port, resolve_backend(args.backend, board), args.timeout, args.flash
    ) as session:
        names, inputs = collect_inputs(args, session.built.input, DEFAULT_INPUTS)
        for name, sample in zip(names, inputs, strict=True):
            reply = session.client.infer(sample.tobytes())
            output = session.output_values(reply.output)
            results.append(
                {
                    "input": name,
                    "output": output.tolist(),
                    "top_class": int(np.argmax(output)),
                    "time": session.time(reply.ticks),
                    "stack_bytes_used": reply.stack_used,
                }
            )
    report = {
        "model": str(args.model),
        "board": board.name,
        "time_unit": board.time_unit,
        "output_type": session.built.output.dtype,
        "results": results,
    }
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(report: dict) -> str:
    rows = [[r["input"], _short(r["output"]), r["top_class"], r["time"]] for r in report["results"]]
    headers = ["input", f"output ({report['output_type']})", "top class", report["time_unit"]]
    return f"{report['model']} on {report['board']}\n" + format_table(headers, rows, right={2, 3})


def _short(values: list[int], shown: int = 10) -> str:
    text = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values[:shown])
    return f"[{text}{', ...' if len(values) > shown else ''}]"
