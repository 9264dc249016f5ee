# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet sweep`: the alpha x resolution trade-off, measured on a board."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_backend_argument, resolve_backend
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.family import check_alpha, check_channels, check_resolution
from mcu_mobilenet.reports import format_sweep_points
from mcu_mobilenet.sweep.runner import SweepSettings, run_sweep


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="train, quantize, compile, build and time a grid of (alpha, resolution) points",
        description="For every (alpha, resolution) point: check it fits the board, train (or "
        "reuse the cached model), quantize, compile, build and time it on the board; record "
        "accuracy, mult-adds, parameters, flash, RAM and time in DIR/results.csv and "
        "results.json. Resumable: rerun the same command to continue an interrupted sweep.",
    )
    parser.add_argument("--alphas", default="0.25,0.5,0.75,1.0", help="width multipliers")
    parser.add_argument("--resolutions", default="32,64,96,128", help="input resolutions")
    parser.add_argument(
        "--board", type=arguments.name_or_path, default="qemu-mps2-an386", help="board to time on"
    )
    add_backend_argument(parser)
    parser.add_argument("--data", default="synthetic", help="image folder, .npz or synthetic[:N]")
    parser.add_argument(
        "--channels", type=arguments.integer(1, 3), default=3, help="input channels: 1 or 3"
    )
    parser.add_argument(
        "--epochs", type=arguments.POSITIVE_INTEGER, default=5, help="training epochs per point"
    )
    parser.add_argument(
        "--batch-size", type=arguments.POSITIVE_INTEGER, default=32, help="images per training step"
    )
    parser.add_argument("--seed", type=arguments.SEED, default=0, help="training seed")
    parser.add_argument(
        "--calib-samples", type=arguments.POSITIVE_INTEGER, default=200, help="calibration images"
    )
    parser.add_argument(
        "--jobs",
        type=arguments.POSITIVE_INTEGER,
        default=1,
        help="points run in parallel processes",
    )
    parser.add_argument(
        "--port", metavar="URL", help="a real board's serial port (flashed per point)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="sweep folder")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def parse_list(text: str, kind: type, option: str) -> list:

    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option} {text!r}: give comma-separated numbers") from None
    if not values:
        raise UserError(f"{option} is empty")
    return values


def run(args: argparse.Namespace) -> int:

    alphas = parse_list(args.alphas, float, "--alphas")
    resolutions = parse_list(args.resolutions, int, "--resolutions")
    for alpha in alphas:
        check_alpha(alpha)
    for resolution in resolutions:
        check_resolution(resolution)
    check_channels(args.channels)
    if args.jobs < 1 or args.epochs < 1 or args.batch_size < 1 or args.calib_samples < 1:
        raise UserError("--jobs, --epochs, --batch-size and --calib-samples must be positive")
    board = load_board(args.board)
    settings = SweepSettings(
        data=args.data,
        board=board.name,
        backend=resolve_backend(args.backend, board),
        channels=args.channels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        calibration_samples=args.calib_samples,
    )
    points = run_sweep(args.output, alphas, resolutions, settings, args.jobs, args.port)
    if args.json:
        print(json.dumps([p.to_json() for p in points], indent=2))
    else:
        print(format_sweep_points(points))
        print(
            f"\nresults: {args.output / 'results.csv'} and {args.output / 'results.json'}; "
            f"plots: mcu-mobilenet plot {args.output}"
        )
    return 0
