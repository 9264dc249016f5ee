# SPDX-License-Identifier: Apache-2.0
"""Options shared by the commands that run a model on a board (run, bench, profile), and the
--backend option of every command that compiles a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mcu_mobilenet.boards import DEFAULT_BOARD
from mcu_mobilenet.commands import arguments
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.workflow.inputs import PIXEL_FORMATS, make_samples

BACKEND_HELP = (
    f"kernel backend: {', '.join(registry.names())} (default: {registry.BOARD_DEFAULT} on a "
    f"Cortex-M board, else {registry.DEFAULT})"
)


def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="int8 .tflite model")
    parser.add_argument(
        "--board",
        type=arguments.name_or_path,
        default=DEFAULT_BOARD,
        help=f"board name (see `mcu-mobilenet boards`) or board folder (default {DEFAULT_BOARD})",
    )
    parser.add_argument(
        "--port",
        metavar="URL",
        help="serial port of a real board or running emulator: /dev/ttyACM0, socket://HOST:PORT",
    )
    add_backend_argument(parser)
    parser.add_argument(
        "--timeout",
        type=arguments.POSITIVE,
        metavar="SECONDS",
        help="longest wait for one reply (default: from the model's mult-adds)",
    )
    parser.add_argument(
        "--no-flash",
        dest="flash",
        action="store_false",
        help="with --port on a real board: do not flash, the board already runs this build",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def add_backend_argument(parser: argparse.ArgumentParser, help_text: str = BACKEND_HELP) -> None:
    parser.add_argument("--backend", metavar="NAME", help=help_text)


def resolve_backend(requested: str | None, board=None) -> str:
    """The backend asked for (checked), or the default for `board`.

    Choosing a board's default prints one line on stderr saying which backend and why."""
    if requested is not None:
        return registry.get_backend(requested).name
    if board is None:
        return registry.DEFAULT
    backend, reason = registry.default_for_board(board)
    others = " or ".join(name for name in registry.names() if name != backend)
    print(
        f"mcu-mobilenet: using the {backend} backend: {reason} (--backend {others} to change)",
        file=sys.stderr,
    )
    return backend


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """--image FILE (repeatable) and how its pixels become the model's input."""

    parser.add_argument("--image", type=Path, action="append", default=[], help="an image input")
    parser.add_argument(
        "--pixels",
        choices=PIXEL_FORMATS,
        default="model",
        help="model: pixels scaled to [-1, 1] as mcu-mobilenet trains, then quantized "
        "(default); raw: pixel bytes are int8 input values (TFLM's person-detection images)",
    )


def add_input_arguments(parser: argparse.ArgumentParser, default_inputs: int) -> None:
    add_image_arguments(parser)
    parser.add_argument(
        "--inputs",
        type=arguments.COUNT,
        default=None,
        help=f"seeded random inputs (default {default_inputs} without --image, else 0)",
    )
    parser.add_argument("--seed", type=arguments.SEED, default=0, help="seed of the random inputs")


def collect_inputs(args: argparse.Namespace, input_info, default_inputs: int):
    """The inputs the user asked for, as (names, array [N, ...])."""

    count = args.inputs if args.inputs is not None else (0 if args.image else default_inputs)
    samples, names = make_samples(input_info, count, args.image, args.seed, args.pixels)
    return names, samples
