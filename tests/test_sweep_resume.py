# SPDX-License-Identifier: Apache-2.0
"""A sweep SIGKILLed mid-write, at exact moments (tests/kill_at_rename.py): while it saves
the trained model, the point's record, and the results files. Every run after a kill finds
an intact folder and goes on from the last finished stage; the last one ends the sweep with
nothing lost. (test_sweep.py kills a sweep at a moment of its own choosing; the cluster
version is in test_sweep_cluster.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
ARGS = [
    "sweep",
    "--alphas",
    "0.25",
    "--resolutions",
    "32",
    "--data",
    "synthetic:64",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--calib-samples",
    "16",
]
# (the name a temporary file is renamed to, which such rename, what is final afterwards)
MOMENTS = [
    ("model.keras", 1, set()),
    ("point.json", 1, {"model.keras", "train.json", "model.tflite", "quantize.json"}),
    # The second results write: the one that replaces the results written after the point.
    ("results.json", 2, {"model.keras", "train.json", "model.tflite", "point.json"}),
]


def test_a_sweep_killed_mid_write_resumes_with_nothing_lost_or_corrupted(tmp_path):
    out = tmp_path / "sweep"
    point = out / "points" / "a0.25_r32"
    for pattern, count, final_files in MOMENTS:
        env = {**os.environ, "KILL_AT_RENAME": pattern, "KILL_AT_RENAME_COUNT": str(count)}
        killed = subprocess.run(
            [sys.executable, str(TESTS / "kill_at_rename.py"), *ARGS, "-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        torn = [*out.glob(".*.partial*"), *point.glob(".*.partial*")]
        assert len(torn) == 1, torn  # the half-written file the kill left
        assert final_files <= {p.name for p in point.iterdir()}
        for path in [*out.glob("[!.]*.json"), *point.glob("[!.]*.json")]:
            json.loads(path.read_text())  # every file in place is whole
    stamp = (point / "point.json").stat().st_mtime_ns
    old_results = json.loads((out / "results.json").read_text())

    finished = subprocess.run(
        [sys.executable, "-m", "mcu_mobilenet", *ARGS, "-o", str(out), "--json"],
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 0, finished.stderr
    assert "1 of 1 points already done" in finished.stderr
    (record,) = json.loads(finished.stdout)
    assert record["status"] == "done" and record["time_per_inference"] > record["macs"]
    assert (point / "point.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "results.json").read_text()) == old_results
    assert (out / "results.csv").read_text().count("\n") == 2
    assert not [*out.glob(".*.partial*"), *point.glob(".*.partial*")]  # cleaned on resume
