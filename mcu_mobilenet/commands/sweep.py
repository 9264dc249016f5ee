# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet sweep`: the alpha x resolution trade-off, measured on a board."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_backend_argument, resolve_backend
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.family import check_alpha, check_channels, check_resolution
from mcu_mobilenet.reports import format_sweep_points
from mcu_mobilenet.sweep.cluster import (
    SCHEDULER_VARIABLE,
    ClusterChoice,
    connect,
    import_distributed,
    scheduler_from_environment,
)
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
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run each point as a task on this Dask scheduler's workers (default: "
        "$MCU_MOBILENET_SCHEDULER; needs the cluster extra)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run the points on a local Dask cluster of N worker processes",
    )
    parser.add_argument(
        "--port", metavar="URL", help="a real board's serial port (flashed per point)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="sweep folder")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run, uses_tensorflow=True)


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
    cluster = _cluster_choice(args)
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
    with _points_runner(cluster) as run_elsewhere:
        points = run_sweep(
            args.output, alphas, resolutions, settings, args.jobs, args.port, run_elsewhere
        )
    if args.json:
        print(json.dumps([p.to_json() for p in points], indent=2))
    else:
        print(format_sweep_points(points))
        print(
            f"\nresults: {args.output / 'results.csv'} and {args.output / 'results.json'}; "
            f"plots: mcu-mobilenet plot {args.output}"
        )
    return 0


def _cluster_choice(args: argparse.Namespace):
    """The Dask cluster the points run on, if one is asked for (checked before any work)."""
    scheduler = args.scheduler or scheduler_from_environment()
    named_by = "--scheduler" if args.scheduler else f"${SCHEDULER_VARIABLE}"
    if args.workers is not None:
        if args.workers < 1:
            raise UserError(f"--workers {args.workers}: give a number of processes, 1 or more")
        if scheduler:
            raise UserError(
                f"--workers starts a local cluster but {named_by} names the scheduler "
                f"{scheduler}: give one of them"
            )
        choice, named_by = ClusterChoice(local_workers=args.workers), "--workers"
    elif scheduler:
        choice = ClusterChoice(scheduler=scheduler)
    else:
        return None
    if args.port is not None:
        raise UserError(
            "--port times every point on the board attached to this machine: it cannot be "
            f"combined with a Dask cluster ({named_by})"
        )
    if args.jobs > 1:
        raise UserError(
            f"--jobs runs points in processes on this machine; on a Dask cluster ({named_by}) "
            "the workers run them: drop --jobs"
        )
    import_distributed()
    return choice


def _points_runner(cluster):
    """Connected to the cluster for the sweep's length; a local sweep needs nothing."""
    return connect(cluster) if cluster is not None else contextlib.nullcontext()
