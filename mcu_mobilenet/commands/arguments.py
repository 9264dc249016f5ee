# SPDX-License-Identifier: Apache-2.0
"""argparse types shared by the commands: values are checked when the command line is parsed
(finite, in range, short enough), so a bad value is a usage error naming the option, never a
traceback or a value silently ignored later.

    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--timeout", type=number(above=0))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

MAX_PATH_COMPONENT = 255  # bytes in one file name
MAX_TEXT = 4096  # characters in a name or a path given on the command line


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer in [low, high] (either bound may be open)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not {_range(low, high)}")
        return value

    parse.__name__ = "integer"
    return parse


def number(
    above: float | None = None, at_least: float | None = None, at_most: float | None = None
) -> Callable[[str], float]:
    """A finite number: greater than `above`, at least `at_least`, at most `at_most`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if (
            (above is not None and not value > above)
            or (at_least is not None and value < at_least)
            or (at_most is not None and value > at_most)
        ):
            bounds = []
            if above is not None:
                bounds.append(f"greater than {above:g}")
            if at_least is not None:
                bounds.append(f"at least {at_least:g}")
            if at_most is not None:
                bounds.append(f"at most {at_most:g}")
            raise argparse.ArgumentTypeError(f"{value:g} is not {' and '.join(bounds)}")
        return value

    parse.__name__ = "number"
    return parse


def name_or_path(text: str) -> str:
    """A name or a path that the file system can look up (no ENAMETOOLONG later)."""
    if len(text) > MAX_TEXT:
        raise argparse.ArgumentTypeError(
            f"{text[:20]!r}... has {len(text)} characters; at most {MAX_TEXT}"
        )
    for part in text.split("/"):
        if len(part.encode()) > MAX_PATH_COMPONENT:
            raise argparse.ArgumentTypeError(
                f"{part[:20]!r}... is {len(part.encode())} bytes long; a name has at most "
                f"{MAX_PATH_COMPONENT}"
            )
    return text


def _range(low: int | None, high: int | None) -> str:
    if high is None:
        return f"{low} or more"
    if low is None:
        return f"{high} or less"
    return f"between {low} and {high}"


SEED = integer(0, 2**32 - 1)  # what numpy's and TensorFlow's generators accept
POSITIVE_INTEGER = integer(1)
COUNT = integer(0)
POSITIVE = number(above=0)
