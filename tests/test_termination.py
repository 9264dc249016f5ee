# SPDX-License-Identifier: Apache-2.0
"""A plain `kill` of bench, run, validate or sweep at a random moment leaves nothing behind:
no emulator or compiler still running, no temporary folder.

Each round starts the command in a child process with its own TMPDIR and a marker in its
environment (children inherit both), sends SIGTERM at a seeded random moment of its usual
run time, and checks that the command ends with one line, that no process carrying the
marker is left, and that its TMPDIR is empty. Rounds go on until MM_KILL_ROUNDS kills have
landed (a command may end before its moment): 5 in `make test`, 20 in `make kill-test`."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mcu_mobilenet.processes import (
    Terminated,
    run,
    shielded,
    start,
    temporary_folder,
    terminating_signals_raise,
)

ROUNDS = int(os.environ.get("MM_KILL_ROUNDS", "5"))
# About the seconds each takes here (2 cores): the kill moment is drawn up to that, and down
# to a round's time when it ends before its kill.
COMMAND_SECONDS = {"bench": 4.0, "run": 3.5, "validate": 4.0, "sweep": 20.0, "sweep-jobs": 40.0}
EXIT_SECONDS = 30.0  # a killed command unwinds within this
LEFTOVER_GRACE_SECONDS = 5.0  # a parent-death signal is delivered at once; QEMU exits soon after

needs_tools = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="qemu-system-arm or arm-none-eabi-gcc not installed",
)


def _command(name: str, model: Path, work: Path) -> list[str]:
    portable = ["--backend", "portable"]
    return {
        "bench": ["bench", str(model), "--runs", "3", "--no-tflm", *portable],
        "run": ["run", str(model), *portable],
        "validate": [
            "validate", str(model), "--board", "qemu-mps2-an386", "--inputs", "2", *portable
        ],
        "sweep": [
            "sweep", "--alphas", "0.25", "--resolutions", "32", "--data", "synthetic:64",
            "--epochs", "1", "--calib-samples", "16", *portable, "-o", str(work / "sweep"),
        ],
        "sweep-jobs": [  # two points in two worker processes
            "sweep", "--alphas", "0.25", "--resolutions", "32,64", "--data", "synthetic:64",
            "--epochs", "1", "--calib-samples", "16", *portable, "--jobs", "2",
            "-o", str(work / "sweep"),
        ],
    }[name]  # fmt: skip


def _processes_with(marker: str) -> list[str]:
    """`pid name` of every live process whose environment holds the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
            status = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        state = status.rsplit(")", 1)[1].split()[0]
        if marker.encode() in environment and state != "Z":
            found.append(f"{entry.name} {status.split('(', 1)[1].split(')', 1)[0]}")
    return found


def _kill_round(name: str, model: Path, work: Path, moment: float) -> dict:
    token = uuid.uuid4().hex
    temporary = work / "tmp"
    temporary.mkdir(parents=True)
    environment = {**os.environ, "TMPDIR": str(temporary), "MM_KILL_TEST": token}
    command = [sys.executable, "-m", "mcu_mobilenet", *_command(name, model, work)]
    started = time.monotonic()
    child = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        child.wait(timeout=moment)
        killed = False
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)
        killed = True
    try:
        _, err = child.communicate(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail(f"{name} killed at {moment:.1f} s did not end within {EXIT_SECONDS} s")
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while (left := _processes_with(f"MM_KILL_TEST={token}")) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {
        "seconds": time.monotonic() - started,
        "killed": killed,
        "code": child.returncode,
        "stderr": err,
        "processes": left,
        "files": sorted(str(path.relative_to(temporary)) for path in temporary.rglob("*")),
    }


@needs_tools
@pytest.mark.slow
def test_killed_commands_leave_no_emulator_and_no_temporary_folder(person_detect, tmp_path):
    rng = random.Random(ROUNDS)
    seconds = dict(COMMAND_SECONDS)
    names = list(seconds)
    kills = attempts = 0
    while kills < ROUNDS and attempts < 2 * ROUNDS:
        name = names[attempts % len(names)]
        moment = rng.uniform(0.3, seconds[name])
        result = _kill_round(name, person_detect, tmp_path / f"round-{attempts}", moment)
        where = f"round {attempts}: {name}, kill at {moment:.1f} s"
        attempts += 1
        last = (result["stderr"].strip().splitlines() or [""])[-1]
        outcome = "killed" if result["killed"] else f"ended first ({result['seconds']:.1f} s)"
        print(
            f"{where}: {outcome}, exit {result['code']}, {len(result['processes'])} processes "
            f"and {len(result['files'])} files left; {last}"
        )
        assert result["processes"] == [], where
        assert result["files"] == [], where
        if not result["killed"]:  # it ran faster than that: draw the next moments earlier
            seconds[name] = result["seconds"]
            assert result["code"] == 0, (where, result["stderr"][-2000:])
            continue
        kills += 1
        if result["code"] == -signal.SIGTERM:
            continue  # killed while Python started, before there was anything to clean up
        if result["code"] != 128 + signal.SIGTERM:
            print(result["stderr"][-4000:])
        assert result["code"] == 128 + signal.SIGTERM, (where, result["stderr"][-2000:])
        assert "Traceback" not in result["stderr"], where
        assert result["stderr"].strip().splitlines()[-1].endswith("terminated by SIGTERM")
    assert kills == ROUNDS


def test_a_run_child_and_its_group_end_with_an_interrupted_run(tmp_path):
    """processes.run ends the child's whole process group when the wait is interrupted: a
    shell and the sleeper it started are both gone."""
    script = f"sleep 60 & echo $! > {tmp_path / 'grandchild'}; wait"
    with pytest.raises(subprocess.TimeoutExpired):
        run(["sh", "-c", script], timeout=1.0)
    grandchild = int((tmp_path / "grandchild").read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{grandchild}").exists() or _is_zombie(grandchild)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_children_die_with_a_parent_killed_outright(tmp_path):
    """SIGKILL leaves no chance to unwind: the parent-death signal still ends the child."""
    program = (
        "import sys, time\n"
        "from mcu_mobilenet.processes import start\n"
        "child = start(['sleep', '60'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _is_zombie(child_pid):
        if not Path(f"/proc/{child_pid}").exists():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{child_pid}").exists() or _is_zombie(child_pid)


def test_a_temporary_folder_is_removed_when_termination_unwinds_it():
    with pytest.raises(Terminated):
        with temporary_folder("mcu-test-") as folder:
            (folder / "file").write_text("x")
            raise Terminated(signal.SIGTERM)
    assert not folder.exists()


def test_start_puts_the_child_in_its_own_process_group():
    child = start(["sleep", "5"])
    try:
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
    finally:
        child.kill()
        child.wait()


def test_a_signal_during_shielded_cleanup_takes_effect_after_it():
    steps = []
    with pytest.raises(Terminated):
        with terminating_signals_raise(), shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)  # the handler has run by now, and held the signal back
            steps.append("cleanup finished")
    assert steps == ["cleanup finished"]


def test_a_signal_swallowed_by_a_finalizer_is_raised_again_after_it():
    """Python drops exceptions raised in __del__; a SIGTERM that lands in one still stops."""

    class SlowToDie:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler raises in here, and Python drops it

    steps = []
    with pytest.raises(Terminated):
        with terminating_signals_raise():
            SlowToDie()  # collected at once
            steps.append("after the finalizer")
            time.sleep(0.5)
            steps.append("never")
    assert steps[-1] != "never"
