# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet compile`: an int8 .tflite model to C99 sources with a static memory plan."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_backend_argument, resolve_backend
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.compiler.target import board_target
from mcu_mobilenet.io import check_output_file, write_text_atomically
from mcu_mobilenet.table import format_table
from mcu_mobilenet.workflow.compile import compile_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="compile an int8 .tflite model into C99 sources",
        description="Compile an int8 .tflite MobileNet ahead of time into <prefix>_model.h, "
        "<prefix>_model.c, <prefix>_weights.h, <prefix>_weights.c and the kernels they call.",
    )
    parser.add_argument("model", type=Path, help="int8 .tflite model")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--prefix", default="model", help="C symbol prefix (default: model)")
    add_backend_argument(
        parser,
        "kernel backend: portable or cmsis-nn (default: portable; with --board, cmsis-nn when "
        "the board is a Cortex-M and CMSIS-NN is available)",
    )
    parser.add_argument(
        "--board",
        type=arguments.name_or_path,
        help="the board the code is for (see `mcu-mobilenet boards`): cmsis-nn sizes its scratch "
        "for that CPU's CMSIS-NN code path, native uses Helium kernels on a CPU with MVE "
        "(default: code for any Cortex-M)",
    )
    parser.add_argument(
        "--json", metavar="REPORT", type=Path, help="also write the report as JSON ('-': stdout)"
    )
    parser.add_argument("--plan", action="store_true", help="also print the memory plan")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    if args.json is not None and str(args.json) != "-":
        check_output_file(args.json, args.force)  # before any source is written
    board = target = None
    if args.board is not None:
        board = load_board(args.board)
    backend = resolve_backend(args.backend, board)
    if board is not None and registry.get_backend(backend).needs_target:
        target = board_target(board)
    result = compile_model(args.model, args.output, args.prefix, backend, args.force, target)
    report = result.report()
    report["output"] = str(args.output)
    report["files"] = [str(path) for path in result.files]
    if args.json is not None and str(args.json) == "-":
        print(json.dumps(report, indent=2))
        return 0
    print(format_report(report, show_plan=args.plan))
    if args.json is not None:
        write_text_atomically(args.json, json.dumps(report, indent=2) + "\n", force=args.force)
        print(f"report written to {args.json}", file=sys.stderr)
    return 0


CODE_PATHS = {"plain": "plain C", "dsp": "DSP", "mve": "Helium", "any": "plain C, DSP or Helium"}


def format_report(report: dict, show_plan: bool = False) -> str:
    with_kernels = report["backend"] != registry.PORTABLE  # which library runs each layer
    rows = [
        [
            layer["index"],
            layer["op"],
            " + ".join("x".join(map(str, s)) for s in layer["input_shapes"])
            + " -> "
            + "x".join(map(str, layer["output_shape"])),
            layer["macs"],
            layer["weight_bytes"],
            layer["activation_bytes"],
            layer["arena_offset"],
            *([layer["kernel"], layer["scratch_bytes"]] if with_kernels else []),
        ]
        for layer in report["layers"]
    ]
    headers = ["#", "op", "shapes", "MACs", "weights B", "output B", "arena offset"]
    table = format_table(
        headers + (["kernel", "scratch B"] if with_kernels else []),
        rows,
        right={0, 3, 4, 5, 6, 8},
    )
    scratch_note = ""
    if report["target"]:
        code = CODE_PATHS[report["cmsis_nn_code_path"]]
        scratch_note = f"  (one buffer, sized for {report['target']}: CMSIS-NN's {code} code)"
    totals = (
        f"\n{report['model']} ({report['backend']} backend): {len(report['layers'])} layers, "
        f"{report['macs']:,} MACs\n"
        f"  arena   {report['arena_bytes']:>10,} B  (activations; liveness bound without "
        f"overlaps {report['liveness_bound_bytes']:,} B)\n"
        f"  scratch {report['scratch_bytes']:>10,} B{scratch_note}\n"
        f"  weights {report['weights_bytes']:>10,} B  (flash: weights, biases, per-channel "
        "constants)"
    )
    text = table + "\n" + totals
    if show_plan:
        plan = format_table(
            ["tensor", "offset", "bytes", "first use", "last use"],
            [
                [r["tensor"], r["offset"], r["size"], r["first_use"], r["last_use"]]
                for r in report["plan"]
            ],
            right={1, 2, 3, 4},
        )
        text += "\n\nMemory plan (use -1: before the first layer):\n" + plan
    return text
