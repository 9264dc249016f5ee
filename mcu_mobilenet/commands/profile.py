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
from mcu_mobilenet.workflow.session import open_session


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
    with open_session(
        args.model, board, args.port, resolve_backend(args.backend, board), args.timeout, args.flash
    ) as session:
        names, inputs = collect_inputs(args, session.built.input, 1)
        reply = session.client.profile(inputs[0].tobytes())
        layer_names = session.client.info().layer_names
        compiled_layers = session.built.compile_report["layers"]
        output = session.output_values(reply.output)
    total = board.ticks_to_time(reply.ticks)
    layers = []
    for index, ticks in enumerate(reply.layer_ticks):
        time = board.ticks_to_time(ticks)
        compiled = compiled_layers[index] if index < len(compiled_layers) else {}
        macs = compiled.get("macs", 0)
        layers.append(
            {
                "index": index,
                "op": layer_names[index],
                "kernel": compiled.get("kernel", ""),
                "macs": macs,
                "time": time,
                "share": round(time / total, 4) if total else 0.0,
                "time_per_mac": round(time / macs, 3) if macs else None,
            }
        )
    report = {
        "model": str(args.model),
        "board": board.name,
        "backend": session.built.compile_report["backend"],
        "input": names[0],
        "time_unit": board.time_unit,
        "time_per_inference": total,
        "output": output.tolist(),
        "layers": layers,
    }
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
