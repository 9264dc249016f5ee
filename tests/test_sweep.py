# SPDX-License-Identifier: Apache-2.0
"""The trade-off workflow: a real 2 x 2 sweep on qemu-mps2-an386 (tiny data and epochs) that
is killed and resumed, the same sweep on a Dask cluster, its plots, select from it and from
predictions, and failures."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dask_cluster import SweepProcess, dask_cluster
from model_fixtures import quantized_mobilenet  # noqa: F401 (a fixture, used by name)

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.quick import make_quantized_mobilenet
from mcu_mobilenet.sweep.prediction import (
    calibrated_cost_model,
    firmware_overhead,
    plan_member,
)
from mcu_mobilenet.sweep.results import load_points
from mcu_mobilenet.workflow.benchmark import bench_on_board
from mcu_mobilenet.workflow.firmware import build_for_model

SWEEP_ARGS = [
    "--alphas",
    "0.25,0.5",
    "--resolutions",
    "32,64",
    "--data",
    "synthetic:64",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--calib-samples",
    "16",
]


# The columns a sweep on a cluster must give exactly as a local sweep does. Accuracy is left
# out: training is deterministic on one machine (the same weights here), but TensorFlow's
# kernels may round differently on other CPUs. The time is compared to the timer's
# resolution: where an inference starts within a SysTick period varies from run to run.
DETERMINISTIC_COLUMNS = (
    "alpha",
    "resolution",
    "status",
    "macs",
    "params",
    "arena_bytes",
    "scratch_bytes",
    "weights_bytes",
    "flash_bytes",
    "ram_bytes",
    "time_unit",
    "board",
    "backend",
)


def _sweep_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mcu_mobilenet", "sweep", *SWEEP_ARGS, "-o", str(out), *extra]


def test_sweep_survives_kill_and_resume_then_plots_and_selects(tmp_path, run_cli):
    out = tmp_path / "sweep"
    process = subprocess.Popen(
        _sweep_command(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not list(out.glob("points/*/point.json")):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no point finished in 10 minutes"
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and everything it started
    process.wait()
    first = {p.label: p for p in load_points(out)}
    assert 1 <= len(first) < 4
    stamps = {label: (out / "points" / label / "point.json").stat().st_mtime_ns for label in first}

    resumed = subprocess.run(_sweep_command(out, "--json"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    points = json.loads(resumed.stdout)
    assert len(points) == 4 and all(p["status"] == "done" for p in points), points
    for label, stamp in stamps.items():  # finished points were neither redone nor lost
        assert (out / "points" / label / "point.json").stat().st_mtime_ns == stamp
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("alpha,resolution,status")
    for point in points:
        assert point["time_unit"] == "instructions"
        assert point["time_per_inference"] > point["macs"]  # > 1 instruction per mult-add
        assert 0.0 <= point["int8_accuracy"] <= 1.0
        assert point["flash_bytes"] > point["weights_bytes"] > 0
        assert point["ram_bytes"] > point["arena_bytes"] > 0
    # Mult-adds and parameters grow with alpha; mult-adds with the resolution.
    by_key = {(p["alpha"], p["resolution"]): p for p in points}
    assert by_key[(0.5, 32)]["params"] > by_key[(0.25, 32)]["params"]
    assert by_key[(0.25, 64)]["macs"] > by_key[(0.25, 32)]["macs"]

    _check_the_same_sweep_on_a_cluster_gives_the_same_table(tmp_path, points)

    code, out_text, err = run_cli("plot", out)
    assert code == 0, err
    for name in ("accuracy_vs_macs", "accuracy_vs_time", "memory_vs_limits"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (out / "plots" / f"{name}.svg").read_bytes()

    # select from the sweep: the most accurate point within a RAM budget that rules out the
    # largest one.
    largest = max(points, key=lambda p: p["ram_bytes"])
    budget_kib = (largest["ram_bytes"] - 1) / 1024
    code, text, err = run_cli("select", "--from", out, "--max-ram", budget_kib, "--json")
    assert code == 0, err
    selection = json.loads(text)
    fitting = [p for p in points if p["ram_bytes"] <= budget_kib * 1024]
    best = max(fitting, key=lambda p: (p["int8_accuracy"], -p["macs"]))
    assert (selection["choice"]["alpha"], selection["choice"]["resolution"]) == (
        best["alpha"],
        best["resolution"],
    )
    rejected = {(c["alpha"], c["resolution"]): c["reasons"] for c in selection["rejected"]}
    assert any(
        "--max-ram" in reason for reason in rejected[(largest["alpha"], largest["resolution"])]
    )


def _check_the_same_sweep_on_a_cluster_gives_the_same_table(tmp_path, local_points):
    """The same 4 points through a real scheduler and two workers on loopback."""
    out = tmp_path / "on-cluster"
    with dask_cluster(tmp_path / "cluster") as cluster:
        sweep = SweepProcess(
            [*SWEEP_ARGS, "-o", str(out), "--scheduler", cluster.address, "--json"]
        )
        assert sweep.finish(seconds=900) == 0, sweep.text
        workers = set(cluster.addresses.values())
    points = json.loads(sweep.stdout)
    assert "Dask dashboard: http://127.0.0.1:" in sweep.text
    for point in points:
        label = f"a{point['alpha']:g}_r{point['resolution']}"
        for progress in ("queued", "training on tcp://", "timing on tcp://", "done on tcp://"):
            assert f"{label}: {progress}" in sweep.text, sweep.text
    assert {p["worker"] for p in points} == workers  # both workers ran points
    tick = load_board("qemu-mps2-an386").ticks_to_time(1)
    assert len(points) == len(local_points) == 4
    for local, remote in zip(local_points, points, strict=True):
        assert {k: remote[k] for k in DETERMINISTIC_COLUMNS} == {
            k: local[k] for k in DETERMINISTIC_COLUMNS
        }
        assert abs(remote["time_per_inference"] - local["time_per_inference"]) <= tick
    assert (out / "results.csv").read_text().count("\n") == 5


def test_a_point_is_keyed_by_its_exact_parameters(tmp_path, run_cli):
    """0.2500001 is not the 0.25 point (once both shared the folder a0.25_r224). Points that
    do not fit the board end without training, so this takes a second."""
    out = tmp_path / "sweep"
    no_fit = ["--resolutions", "224", "--board", "nucleo-f446re", "-o", out, "--json"]
    code, text, err = run_cli("sweep", "--alphas", "0.25", *no_fit)
    assert code == 0, err
    first = out / "points" / "a0.25_r224" / "point.json"
    stamp = first.stat().st_mtime_ns
    code, text, err = run_cli("sweep", "--alphas", "0.25,0.2500001,0.25", *no_fit)
    assert code == 0, err
    assert [p["alpha"] for p in json.loads(text)] == [0.25, 0.2500001]
    assert "1 of 2 points already done" in err
    assert first.stat().st_mtime_ns == stamp
    record = json.loads((out / "points" / "a0.2500001_r224" / "point.json").read_text())
    assert record["alpha"] == 0.2500001 and record["status"] == "no-fit"


def test_a_second_sweep_in_a_running_sweeps_folder_is_refused(tmp_path, run_cli):
    out = tmp_path / "sweep"
    no_fit = ["--alphas", "0.25", "--resolutions", "224", "--board", "nucleo-f446re", "-o", out]
    code, _, err = run_cli("sweep", *no_fit)
    assert code == 0, err
    with open(out / "sweep.lock", "a+") as held:  # as a running sweep holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        code, _, err = run_cli("sweep", *no_fit)
    assert code == 2 and "another sweep is running in" in err


def test_select_from_sweep_with_other_settings_is_refused(tmp_path, run_cli):
    out = tmp_path / "sweep"
    (out).mkdir()
    (out / "sweep.json").write_text(json.dumps({"board": "qemu-mps2-an386", "data": "x"}))
    code, _, err = run_cli("select", "--from", out, "--board", "qemu-mps2-an500")
    assert code == 2 and "measured on qemu-mps2-an386" in err
    code, _, err = run_cli("sweep", *SWEEP_ARGS, "-o", out)
    assert code == 2 and "other settings" in err


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path, run_cli):
    """A real board with no port: every point fails at its run stage, with the reason."""
    out = tmp_path / "sweep"
    code, text, err = run_cli(
        "sweep",
        "--alphas",
        "0.25",
        "--resolutions",
        "32,64",
        "--data",
        "synthetic:32",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--calib-samples",
        "8",
        "--board",
        "nucleo-f446re",
        "-o",
        out,
        "--json",
    )
    assert code == 0, err
    points = json.loads(text)
    assert [p["status"] for p in points] == ["failed", "failed"]
    assert all(p["stage"] == "run" and "serial port" in p["error"] for p in points)
    assert all(p["int8_accuracy"] is not None for p in points)  # stages before it finished


def test_points_that_cannot_fit_are_recorded_without_training(tmp_path, run_cli):
    out = tmp_path / "sweep"
    # 1.0 at 224 needs hundreds of KiB of arena and 4 MB of weights: not on a 128 KiB board.
    code, text, err = run_cli(
        "sweep",
        "--alphas",
        "1.0",
        "--resolutions",
        "224",
        "--board",
        "nucleo-f446re",
        "-o",
        out,
        "--json",
    )
    assert code == 0, err
    (point,) = json.loads(text)
    assert point["status"] == "no-fit" and "does not fit nucleo-f446re" in point["error"]
    assert not (out / "points" / "a1_r224" / "model.keras").exists()  # 1.0: named as before


@pytest.mark.parametrize("board", ["nucleo-f446re"])
def test_select_predicts_for_a_board_whose_ram_rules_out_the_largest(run_cli, board):
    code, text, err = run_cli("select", "--board", board, "--json")
    assert code == 0, err
    selection = json.loads(text)
    choice = selection["choice"]
    limits = selection["limits"]
    assert choice["ram_bytes"] <= limits["ram_bytes"]
    assert choice["flash_bytes"] <= limits["flash_bytes"]
    # Every candidate with more mult-adds is rejected for a stated memory reason, and the
    # largest (1.0 at 224) for its RAM.
    assert all(c["macs"] > choice["macs"] and c["reasons"] for c in selection["rejected"])
    largest = selection["rejected"][0]
    assert (largest["alpha"], largest["resolution"]) == (1.0, 224)
    assert any("RAM" in reason for reason in largest["reasons"])


def test_predicted_memory_matches_the_built_firmware(tmp_path):
    """select's flash and RAM predictions against a real trained model's ELF."""

    board = load_board("qemu-mps2-an386")
    config = MobileNetConfig(alpha=0.25, resolution=64, channels=3, classes=4)
    member = plan_member(config)
    overhead = firmware_overhead(board)
    tflite = make_quantized_mobilenet(tmp_path / "m.tflite", 0.25, 64, 3, 4, steps=2)
    memory = build_for_model(tflite, board, tmp_path / "build", "portable").firmware.memory
    assert memory.ram_arena == member.plan.arena_bytes
    predicted_flash = member.weights_bytes + overhead.flash_code_and_data
    assert abs(memory.flash_total - predicted_flash) <= 128  # the arrays' alignment padding
    assert memory.ram_total == member.plan.arena_bytes + overhead.ram_static + overhead.ram_stack


def test_time_prediction_from_a_calibrated_cost_model(tmp_path, monkeypatch, quantized_mobilenet):  # noqa: F811
    """The cost model, fitted to two MobileNets' per-layer times on the board, predicts a
    third MobileNet's measured time."""

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    board = load_board("qemu-mps2-an386")
    model = calibrated_cost_model(board, "portable")
    assert model.time_unit == "instructions" and model.samples == 60
    assert list(tmp_path.glob("mcu-mobilenet/cost-qemu-mps2-an386-portable-*.json"))
    other = quantized_mobilenet(alpha=0.75, resolution=32)
    predicted = model.predict(analyze(other).layers)
    measured = bench_on_board(other, board, "portable", runs=1, tflm=False)
    assert abs(predicted - measured["time_per_inference"]) <= 0.1 * measured["time_per_inference"]
