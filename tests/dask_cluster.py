# SPDX-License-Identifier: Apache-2.0
"""A real Dask cluster on loopback for the sweep tests, started with Dask's own commands
(`dask scheduler`, `dask worker`) as a user would, and sweeps run as child processes whose
progress lines the tests watch."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DASK = str(Path(sys.executable).with_name("dask"))
START_SECONDS = 60


def _wait_for(condition, what: str, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.2)


class Cluster:
    """A scheduler and workers, each a process group of its own (killed whole)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}
        self.addresses: dict[str, str] = {}
        scheduler_file = folder / "scheduler.json"
        self._start(
            "scheduler",
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
            ],
            os.environ,
        )
        _wait_for(lambda: scheduler_file.is_file(), "the scheduler started")
        _wait_for(lambda: "address" in _read_json(scheduler_file), "the scheduler started")
        self.address = _read_json(scheduler_file)["address"]

    def start_worker(self, name: str, env: dict | None = None) -> str:
        """Starts `dask worker` (one thread, no nanny: killing it kills the worker); returns
        its address once it has registered."""
        log = self._start(
            name,
            [
                DASK,
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--name",
                name,
                "--local-directory",
                str(self.folder / name),
            ],
            env or os.environ,
        )
        _wait_for(lambda: "Registered to" in log.read_text(), f"worker {name} registered")
        match = re.search(r"Start worker at:\s+(\S+)", log.read_text())
        self.addresses[name] = match.group(1)
        return self.addresses[name]

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def _start(self, name: str, command: list[str], env) -> Path:
        log = self.folder / f"{name}.log"
        with open(log, "w") as handle:
            self.processes[name] = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.folder,
            )
        return log


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except ValueError:  # still being written
        return {}


@contextmanager
def dask_cluster(folder: Path, workers: int = 2) -> Iterator[Cluster]:
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask is not installed: pip install -e '.[test,cluster]' (make venv)")
    folder.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(folder)
    try:
        for number in range(1, workers + 1):
            cluster.start_worker(f"worker-{number}")
        yield cluster
    finally:
        cluster.stop()


class SweepProcess:
    """`mcu-mobilenet sweep ...` in a child process (its own process group), its standard
    error collected line by line for the test to wait on."""

    def __init__(self, arguments: list[str], command: list[str] | None = None, env=None):
        prefix = command or [sys.executable, "-m", "mcu_mobilenet"]
        self._stdout = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [*prefix, "sweep", *arguments],
            stdout=self._stdout,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._collect, daemon=True).start()
        self.stdout = ""  # once it has finished

    def _collect(self) -> None:
        for line in self.process.stderr:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for_line(self, pattern: str, seconds: float) -> re.Match:
        """The first line (seen so far or to come) that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + seconds
        for line in self.lines:
            if match := regex.search(line):
                return match
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} in {seconds} s:\n" + self.text
            try:
                line = self._new.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"the sweep ended before {pattern!r}:\n{self.text}"
            self.lines.append(line)
            if match := regex.search(line):
                return match

    def finish(self, seconds: float) -> int:
        """Waits for the sweep to end; returns its exit code."""
        self.process.wait(timeout=seconds)
        while (line := self._new.get()) is not None:
            self.lines.append(line)
        self._stdout.seek(0)
        self.stdout = self._stdout.read()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL to the sweep and everything it started (a local cluster too)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
