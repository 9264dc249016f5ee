# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet plot`: the trade-off plots of a sweep."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.sweep.plots import draw_plots
from mcu_mobilenet.sweep.results import load_points


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="plot a sweep: accuracy against mult-adds and time, memory against the board",
        description="Draw DIR/plots/*.png and *.svg from a sweep's results: accuracy against "
        "mult-adds (log scale) and against measured time with the Pareto front marked, and "
        "RAM and flash against the board's limits.",
    )
    parser.add_argument("sweep", type=Path, help="the sweep folder (mcu-mobilenet sweep -o DIR)")
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    if not (args.sweep / "sweep.json").is_file():
        raise UserError(f"{args.sweep} holds no sweep (no sweep.json); run `mcu-mobilenet sweep`")
    points = load_points(args.sweep)
    if not points:
        raise UserError(f"{args.sweep} has no finished point yet; run or resume the sweep")
    board = load_board(json.loads((args.sweep / "sweep.json").read_text())["board"])
    written = draw_plots(points, args.sweep / "plots", board.flash.size, board.ram.size)
    if args.json:
        print(json.dumps([str(path) for path in written]))
    else:
        print("\n".join(str(path) for path in written))
    return 0
