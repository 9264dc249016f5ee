# SPDX-License-Identifier: Apache-2.0
"""One sweep point in a fresh Python process of its own (how a Dask worker runs a point).

Why a process: a Dask worker's own threads draw from Python's global random generator, which
Keras' seeding also draws from, so a point trained inside a worker differs from the same
point trained by a local sweep; its own process gives the same weights as a local sweep, and
TensorFlow's memory goes back when the point ends. It is a plain subprocess (not
multiprocessing, which daemonic Dask workers may not use), and it dies with the thread that
waits for it (a parent-death signal on Linux), so a killed worker leaves no point running.

Protocol: the parent writes the job as JSON on the child's standard input; the child writes
one JSON line per stage it starts, then one with the point's record, on a pipe of its own
(standard output and error stay free for TensorFlow's and the compiler's chatter).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mcu_mobilenet.sweep.results import Point
from mcu_mobilenet.sweep.runner import SweepSettings, run_point

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def run_point_in_process(
    sweep_dir: Path,
    alpha: float,
    resolution: int,
    settings: SweepSettings,
    data_location: str,
    progress: Callable[[str], None],
) -> Point:
    """Runs run_point in a child process; a child that dies gives a failed point saying how."""
    read_end, write_end = os.pipe()
    job = {
        "sweep_dir": str(sweep_dir),
        "alpha": alpha,
        "resolution": resolution,
        "settings": settings.to_json(),
        "data_location": data_location,
    }
    command = [sys.executable, "-m", __name__, str(write_end), str(os.getpid())]
    with subprocess.Popen(command, stdin=subprocess.PIPE, pass_fds=(write_end,)) as child:
        os.close(write_end)
        child.stdin.write(json.dumps(job).encode())
        child.stdin.close()
        point, stage = None, "fit"
        with os.fdopen(read_end, encoding="utf-8") as channel:
            for line in channel:
                message = json.loads(line)
                if "stage" in message:
                    stage = message["stage"]
                    progress(stage)
                else:
                    point = Point.from_json(message["point"])
        code = child.wait()
    if point is not None:
        return point
    return Point(
        alpha,
        resolution,
        status="failed",
        stage=stage,
        error=f"the point's process {_how_it_ended(code)} (out of memory?)",
        board=settings.board,
        backend=settings.backend,
    )


def _how_it_ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"ended with exit code {code} before the point did"


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def main(argv: list[str]) -> int:
    channel_fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    job = json.loads(sys.stdin.read())
    with os.fdopen(channel_fd, "w", encoding="utf-8", buffering=1) as channel:

        def progress(stage: str) -> None:
            channel.write(json.dumps({"stage": stage}) + "\n")

        point = run_point(
            Path(job["sweep_dir"]),
            job["alpha"],
            job["resolution"],
            SweepSettings(**job["settings"]),
            None,
            progress,
            job["data_location"],
        )
        channel.write(json.dumps({"point": point.to_json()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
