# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet select`: the alpha and resolution to deploy on a board, with the reasons."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.board_options import add_backend_argument, resolve_backend
from mcu_mobilenet.commands.sweep import parse_list
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.sweep.prediction import (
    calibrated_cost_model,
    firmware_overhead,
    plan_member,
)
from mcu_mobilenet.sweep.results import load_points
from mcu_mobilenet.sweep.selection import Candidate, Limits, select

DEFAULT_ALPHAS = "0.25,0.5,0.75,1.0"
DEFAULT_RESOLUTIONS = "32,64,96,128,160,192,224"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "select",
        help="choose the alpha and resolution that fit a board (from a sweep or predicted)",
        description="With --from DIR: the most accurate point of the sweep that fits the "
        "board and the limits. Without: the (alpha, resolution) with the most mult-adds "
        "whose flash and RAM (exact, from the compiler's memory plan) and time (from a cost "
        "model calibrated on the board) fit. Every larger candidate is listed with the reason "
        "it was rejected.",
    )
    parser.add_argument(
        "--board", type=arguments.name_or_path, default="qemu-mps2-an386", help="the target board"
    )
    parser.add_argument("--from", dest="sweep", type=Path, help="a sweep folder to choose from")
    parser.add_argument("--max-time", type=arguments.POSITIVE, help="longest time per inference")
    parser.add_argument(
        "--time-unit",
        choices=["instructions", "cycles", "ms"],
        help="unit of --max-time (default: the board's own: instructions under emulation, "
        "cycles on real boards)",
    )
    parser.add_argument(
        "--clock-mhz", type=arguments.POSITIVE, help="core clock for --time-unit ms"
    )
    parser.add_argument(
        "--max-ram", type=arguments.POSITIVE, metavar="KB", help="RAM budget in KiB"
    )
    parser.add_argument(
        "--max-flash", type=arguments.POSITIVE, metavar="KB", help="flash budget in KiB"
    )
    add_backend_argument(parser)
    parser.add_argument("--port", metavar="URL", help="a real board's port, to calibrate time")
    parser.add_argument(
        "--channels", type=arguments.integer(1, 3), default=3, help="input channels (prediction)"
    )
    parser.add_argument(
        "--classes", type=arguments.integer(2), default=4, help="classes (prediction)"
    )
    parser.add_argument("--alphas", default=DEFAULT_ALPHAS, help="candidates (prediction)")
    parser.add_argument(
        "--resolutions", default=DEFAULT_RESOLUTIONS, help="candidates (prediction)"
    )
    parser.add_argument("--json", action="store_true", help="print the selection as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    board = load_board(args.board)
    limits = Limits(
        flash_bytes=board.flash.size,
        ram_bytes=board.ram.size,
        max_flash_bytes=_kib(args.max_flash, "--max-flash"),
        max_ram_bytes=_kib(args.max_ram, "--max-ram"),
        max_time=_max_time(args, board),
        time_unit=board.time_unit,
    )
    if args.sweep is not None:
        candidates, mode = _from_sweep(args.sweep, board), "sweep"
    else:
        args.backend = resolve_backend(args.backend, board)
        candidates, mode = _predicted(args, board, limits), "prediction"
    selection = select(candidates, limits, mode)
    if args.json:
        print(json.dumps(selection.to_json(), indent=2))
    else:
        print(format_selection(selection, board.name))
    return 0 if selection.choice is not None else 1


def _kib(value: float | None, option: str) -> int | None:

    if value is None:
        return None
    if value <= 0:
        raise UserError(f"{option} must be positive (KiB)")
    return int(value * 1024)


def _max_time(args: argparse.Namespace, board) -> float | None:
    """--max-time in the board's own unit."""

    if args.max_time is None:
        return None
    if args.max_time <= 0:
        raise UserError("--max-time must be positive")
    unit = args.time_unit or board.time_unit
    if unit == board.time_unit:
        return args.max_time
    if unit == "ms":
        mhz = args.clock_mhz or board.clock_hz / 1e6
        # Under emulation one instruction is counted as one cycle: a lower bound on real time.
        return args.max_time * mhz * 1000
    raise UserError(
        f"{board.name} measures {board.time_unit}, not {unit}: give --max-time in "
        f"{board.time_unit}, or in ms with --clock-mhz"
    )


def _from_sweep(sweep_dir: Path, board):

    if not (sweep_dir / "sweep.json").is_file():
        raise UserError(f"{sweep_dir} holds no sweep (no sweep.json); run `mcu-mobilenet sweep`")
    recorded_board = json.loads((sweep_dir / "sweep.json").read_text())["board"]
    if recorded_board != board.name:
        raise UserError(
            f"{sweep_dir} was measured on {recorded_board}, not {board.name}: select for "
            f"--board {recorded_board}, or sweep on {board.name}"
        )
    points = [p for p in load_points(sweep_dir) if p.status in ("done", "no-fit")]
    if not points:
        raise UserError(f"{sweep_dir} has no finished point yet; run or resume the sweep")
    return [
        Candidate(
            p.alpha,
            p.resolution,
            p.macs or 0,
            p.flash_bytes or 0,
            p.ram_bytes or 0,
            p.time_per_inference,
            p.int8_accuracy,
            measured=p.status == "done",
        )
        for p in points
    ]


def _predicted(args: argparse.Namespace, board, limits):

    overhead = firmware_overhead(board, args.backend)
    cost_model = (
        calibrated_cost_model(board, args.backend, args.port)
        if limits.max_time is not None
        else None
    )
    candidates = []
    for alpha in parse_list(args.alphas, float, "--alphas"):
        for resolution in parse_list(args.resolutions, int, "--resolutions"):
            config = MobileNetConfig(
                alpha=alpha, resolution=resolution, channels=args.channels, classes=args.classes
            )
            member = plan_member(config, args.backend, board)
            memory = member.plan.arena_bytes + member.scratch_bytes
            candidates.append(
                Candidate(
                    alpha,
                    resolution,
                    member.macs,
                    flash_bytes=member.weights_bytes + overhead.flash_code_and_data,
                    ram_bytes=memory + overhead.ram_static + overhead.ram_stack,
                    time=cost_model.predict(member.layers) if cost_model else None,
                    accuracy=None,
                    measured=False,
                )
            )
    return candidates


def format_selection(selection, board_name: str) -> str:
    limits = selection.limits
    lines = []
    source = "measured in the sweep" if selection.mode == "sweep" else "predicted"
    choice = selection.choice
    if choice is None:
        lines.append(f"nothing fits {board_name} within the limits ({source} figures):")
    else:
        details = [
            f"{choice.macs:,} mult-adds",
            f"flash {choice.flash_bytes / 1024:,.1f} KiB",
            f"RAM {choice.ram_bytes / 1024:,.1f} KiB",
        ]
        if choice.time is not None:
            details.append(f"{choice.time:,.0f} {limits.time_unit}")
        if choice.accuracy is not None:
            details.append(f"int8 accuracy {100 * choice.accuracy:.1f}%")
        rule = (
            "the most accurate that fits"
            if selection.mode == "sweep"
            else "the most mult-adds that fits"
        )
        lines.append(f"choice for {board_name}: {choice.label} ({rule}; {source})")
        lines.append("  " + ", ".join(details))
        if selection.rejected:
            lines.append("larger candidates rejected:")
    for candidate in selection.rejected:
        lines.append(
            f"  {candidate.label} ({candidate.macs:,} mult-adds): " + "; ".join(candidate.reasons)
        )
    return "\n".join(lines)
