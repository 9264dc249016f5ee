# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet demo`: the whole job on the default emulated board, in a few minutes.

A small sweep on the synthetic data set (train, quantize, compile, build, time in QEMU), the
demo model of that sweep validated bit-exact against TFLM on the board, its report, and the
trade-off plots. Rerunning reuses every finished step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_backend_argument, resolve_backend
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.reports import format_sweep_points
from mcu_mobilenet.sweep.plots import draw_plots
from mcu_mobilenet.sweep.results import point_label
from mcu_mobilenet.sweep.runner import SweepSettings, log, run_sweep
from mcu_mobilenet.workflow.validation import validate_on_board

DEMO_ALPHAS = (0.25, 0.5)
DEMO_RESOLUTIONS = (32, 64)
DEMO_MODEL = (0.25, 64)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train, quantize, compile, run and validate a small MobileNet in QEMU, and plot",
        description="The main job end to end on the default emulated board: a 2 x 2 sweep of "
        "small MobileNets on the synthetic data set, the alpha 0.25, 64x64 one validated "
        "bit-exact against TFLM on the board, its report, and the trade-off plots.",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("build/demo"),
        help="work folder (default build/demo); rerunning reuses it",
    )
    parser.add_argument(
        "--board", type=arguments.name_or_path, default="qemu-mps2-an386", help="an emulated board"
    )
    parser.add_argument(
        "--data", default="synthetic:2000", help="data set (default synthetic:2000)"
    )
    parser.add_argument(
        "--epochs", type=arguments.POSITIVE_INTEGER, default=4, help="training epochs (default 4)"
    )
    parser.add_argument(
        "--jobs", type=arguments.POSITIVE_INTEGER, default=2, help="points trained in parallel"
    )
    add_backend_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run, uses_tensorflow=True)


def run(args: argparse.Namespace) -> int:

    board = load_board(args.board)
    if board.emulator == "none":
        raise UserError(f"{board.name} is a real board; the demo runs on an emulated one")
    backend = resolve_backend(args.backend, board)
    settings = SweepSettings(data=args.data, board=board.name, backend=backend, epochs=args.epochs)
    points = run_sweep(args.output, list(DEMO_ALPHAS), list(DEMO_RESOLUTIONS), settings, args.jobs)
    main = next(p for p in points if (p.alpha, p.resolution) == DEMO_MODEL)
    if main.status != "done":
        raise UserError(f"the demo model ({main.label}) did not finish: {main.error}")
    tflite = args.output / "points" / point_label(*DEMO_MODEL) / "model.tflite"
    log(f"validating {tflite} on {board.name} against TFLM")
    validation = validate_on_board(tflite, board, backend=backend, inputs=5, seed=1)
    plots = draw_plots(points, args.output / "plots", board.flash.size, board.ram.size)
    report = {
        "model": str(tflite),
        "board": board.name,
        "alpha": main.alpha,
        "resolution": main.resolution,
        "float_accuracy": main.float_accuracy,
        "int8_accuracy": main.int8_accuracy,
        "bit_exact": f"{validation.bit_exact}/{validation.inputs}",
        "macs": main.macs,
        "arena_bytes": main.arena_bytes,
        "ram_bytes": main.ram_bytes,
        "flash_bytes": main.flash_bytes,
        "weights_bytes": main.weights_bytes,
        "time_per_inference": main.time_per_inference,
        "time_unit": main.time_unit,
        "sweep": [p.to_json() for p in points],
        "plots": [str(path) for path in plots],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_format(report, points))
    return 0 if validation.passed else 1


def _format(report: dict, points) -> str:

    pngs = [path for path in report["plots"] if path.endswith(".png")]
    return "\n".join(
        [
            f"MobileNetV1 alpha {report['alpha']:g}, resolution {report['resolution']}, on "
            f"{report['board']}",
            f"  accuracy       float {100 * report['float_accuracy']:.1f}%, int8 "
            f"{100 * report['int8_accuracy']:.1f}% (held-out synthetic images; int8 run by TFLM)",
            f"  bit-exact      {report['bit_exact']} outputs identical to TFLM's on the board",
            f"  mult-adds      {report['macs']:,}",
            f"  time           {report['time_per_inference']:,} {report['time_unit']} per "
            "inference (emulated instructions, not cycles)",
            f"  RAM            {report['ram_bytes']:,} B (arena {report['arena_bytes']:,} B, plus "
            "static data and stack)",
            f"  flash          {report['flash_bytes']:,} B (weights {report['weights_bytes']:,} B)",
            "",
            "The trade-off (alpha x resolution):",
            format_sweep_points(points),
            "",
            "plots: " + ", ".join(pngs),
        ]
    )
