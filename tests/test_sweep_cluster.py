# SPDX-License-Identifier: Apache-2.0
"""Sweeps on a real Dask cluster on loopback (scheduler and workers started with Dask's own
commands): a worker killed mid-sweep, a worker without the toolchain, a cluster sweep killed
mid-write and resumed, and the errors of the cluster options. The same 4-point sweep locally
and on a cluster is compared in test_sweep.py."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from dask_cluster import SweepProcess, dask_cluster

from mcu_mobilenet.sweep.results import load_points

TESTS = Path(__file__).parent
# The portable backend: the cmsis-nn one asks the Arm toolchain for the board's code path
# before training, and one test wants a worker without the toolchain to fail later, timing.
TINY = [
    "--backend",
    "portable",
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


def _partial_files(out: Path) -> list[Path]:
    return [*out.glob(".*.partial*"), *out.glob("points/*/.*.partial*")]


def test_a_worker_killed_mid_sweep_loses_nothing(tmp_path):
    out = tmp_path / "sweep"
    with dask_cluster(tmp_path / "cluster") as cluster:
        arguments = [*TINY, "--alphas", "0.25,0.5", "-o", str(out), "--scheduler", cluster.address]
        sweep = SweepProcess([*arguments, "--json"])
        label, victim = sweep.wait_for_line(r"(a\S+): training on (\S+)", 300).groups()
        name = {address: name for name, address in cluster.addresses.items()}[victim]
        (survivor,) = set(cluster.addresses.values()) - {victim}
        cluster.kill(name)  # the worker and the point it was training
        assert sweep.finish(seconds=600) == 0, sweep.text
    points = json.loads(sweep.stdout)
    assert [p["status"] for p in points] == ["done", "done"], points
    assert {p["worker"] for p in points} == {survivor}  # the killed worker's point reran
    assert f"{label}: training on {survivor}" in sweep.text
    assert [p.to_json() for p in load_points(out)] == points
    assert len(json.loads((out / "results.json").read_text())["points"]) == 2
    assert not _partial_files(out)


def test_a_point_failing_on_a_worker_is_reported_and_retried_on_another(tmp_path):
    """The point lands on a worker without the Arm toolchain (the only worker when it is
    queued); it fails there at its run stage and is run again on the second worker, from the
    model the first one trained."""
    out = tmp_path / "sweep"
    with dask_cluster(tmp_path / "cluster", workers=0) as cluster:
        bare_path = {**os.environ, "PATH": str(Path(sys.executable).parent)}
        broken = cluster.start_worker("no-toolchain", env=bare_path)
        sweep = SweepProcess(
            [*TINY, "--alphas", "0.25", "-o", str(out), "--scheduler", cluster.address, "--json"]
        )
        sweep.wait_for_line(rf"a0.25_r32: training on {re.escape(broken)}", 300)
        good = cluster.start_worker("good")
        assert sweep.finish(seconds=600) == 0, sweep.text
        good_log = cluster.log("good")
    (point,) = json.loads(sweep.stdout)
    assert point["status"] == "done" and point["worker"] == good, point
    assert point["first_failure"].startswith(f"on {broken}: at run: arm-none-eabi-gcc not found")
    assert re.search(
        rf"a0.25_r32: failed on {re.escape(broken)}: at run: arm-none-eabi-gcc not found.*"
        "retrying it on another worker",
        sweep.text,
    ), sweep.text
    assert "a0.25_r32: reusing the trained model" in good_log  # not trained twice
    assert point["time_per_inference"] > point["macs"] > 0


def test_a_cluster_sweep_killed_mid_write_resumes_and_never_reruns_a_finished_point(tmp_path):
    """`--workers 2` (a local cluster of two processes): the sweep is killed while it writes
    the second point's record, then resumed."""
    out = tmp_path / "sweep"
    arguments = [*TINY, "--alphas", "0.25,0.5", "-o", str(out), "--workers", "2"]
    env = {**os.environ, "KILL_AT_RENAME": "point.json", "KILL_AT_RENAME_COUNT": "2"}
    killed = SweepProcess(
        arguments, command=[sys.executable, str(TESTS / "kill_at_rename.py")], env=env
    )
    assert killed.finish(seconds=600) == -signal.SIGKILL, killed.text
    _kill_what_is_left(killed)
    (record,) = out.glob("points/*/point.json")
    finished, stamp = record.parent.name, record.stat().st_mtime_ns
    (interrupted,) = {p.parent.name for p in out.glob("points/*/model.tflite")} - {finished}
    assert list((out / "points" / interrupted).glob(".*.partial.json"))  # the torn record

    resumed = SweepProcess([*arguments, "--json"])
    assert resumed.finish(seconds=600) == 0, resumed.text
    points = json.loads(resumed.stdout)
    assert [p["status"] for p in points] == ["done", "done"], points
    assert "1 of 2 points already done" in resumed.text
    assert f"{finished}: queued" not in resumed.text and record.stat().st_mtime_ns == stamp
    # The interrupted point went on from its finished stages (the workers' log lines).
    assert f"{interrupted}: reusing the trained model" in resumed.text
    assert "Dask dashboard: http://127.0.0.1:" in resumed.text
    assert not _partial_files(out)


def _kill_what_is_left(sweep: SweepProcess) -> None:
    """The local cluster's processes outlive a sweep killed on its own."""
    try:
        os.killpg(sweep.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_cluster_options_are_checked_before_any_work(tmp_path, run_cli):
    out = tmp_path / "sweep"
    base = ["sweep", *TINY, "--alphas", "0.25", "-o", out]
    cases = [
        (["--workers", "0"], "--workers 0: give a number of processes"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "give one of them"),
        (["--scheduler", "tcp://127.0.0.1:1", "--jobs", "2"], "drop --jobs"),
        (["--scheduler", "tcp://127.0.0.1:1", "--port", "/dev/null"], "--port times every point"),
    ]
    for extra, message in cases:
        code, _, err = run_cli(*base, *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (out / "points").exists()


def test_the_scheduler_variable_is_used_and_an_unreachable_scheduler_is_one_line(tmp_path):
    env = {
        **os.environ,
        "MCU_MOBILENET_SCHEDULER": "tcp://127.0.0.1:9",  # the discard port: nothing listens
        "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s",
    }
    result = _sweep(tmp_path, env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after the notice of the backend chosen
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in line
    assert "dask scheduler" in line
    assert not (tmp_path / "sweep").exists()  # refused before anything was written


def test_without_dask_a_cluster_sweep_says_how_to_install_it(tmp_path):
    # Dask made unimportable, as on an installation without the cluster extra.
    hide_dask = "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
    program = hide_dask + "from mcu_mobilenet.cli import main; sys.exit(main(sys.argv[1:]))"
    out = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "-c", program, "sweep", *TINY, "--alphas", "0.25", "-o", out]
        + ["--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "need Dask: pip install 'mcu-mobilenet[cluster]'" in line
    assert not out.exists()


def _sweep(tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mcu_mobilenet", "sweep", *TINY, "--alphas", "0.25"]
    return subprocess.run(
        [*command, "-o", str(tmp_path / "sweep")], capture_output=True, text=True, env=env
    )
