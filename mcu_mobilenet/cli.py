# SPDX-License-Identifier: Apache-2.0
"""The `mcu-mobilenet` command line: one subcommand per step of the workflow.

Each subcommand lives in mcu_mobilenet/commands/<name>.py with `register(subparsers)`.
TensorFlow is imported only inside the model/ functions that use it (and matplotlib inside
the plotting function), so every command starts fast and `compile`, `validate`, `build`,
`run`, `bench`, `profile` and `boards` never load TensorFlow.
"""

import argparse
import contextlib
import importlib
import sys

from mcu_mobilenet import __version__
from mcu_mobilenet.errors import INTERNAL_ERROR_EXIT, UserError, describe_internal_error
from mcu_mobilenet.model.tf_env import native_logs_hidden
from mcu_mobilenet.processes import Terminated, terminating_signals_raise

# Subcommands in workflow order; each names a module in mcu_mobilenet/commands/.
COMMANDS: list[str] = [
    "info",
    "train",
    "quantize",
    "evaluate",
    "compile",
    "validate",
    "boards",
    "build",
    "run",
    "bench",
    "profile",
    "sweep",
    "plot",
    "select",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcu-mobilenet",
        description="Train, quantize, compile, build, run and time MobileNets on microcontrollers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mcu_mobilenet.commands.{name}").register(subparsers)
    return parser


def _tensorflow_logs_hidden(args: argparse.Namespace):
    uses_tensorflow = getattr(args, "uses_tensorflow", False)
    return native_logs_hidden() if uses_tensorflow else contextlib.nullcontext()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with terminating_signals_raise(), _tensorflow_logs_hidden(args):
            return int(args.run(args) or 0)  # `kill` unwinds like Ctrl-C: nothing left behind
    except UserError as error:
        print(f"mcu-mobilenet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mcu-mobilenet {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated as terminated:
        print(f"mcu-mobilenet {args.command}: {terminated}", file=sys.stderr)
        return 128 + terminated.signal_number
    except BrokenPipeError:  # the reader went away (`... | head`): nothing left to say
        sys.stderr.close()
        return 141
    except Exception as error:  # anything else is a bug: say so, and where to report it
        print(describe_internal_error(args.command, error, __version__), file=sys.stderr)
        return INTERNAL_ERROR_EXIT
