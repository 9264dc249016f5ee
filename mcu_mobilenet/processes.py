# SPDX-License-Identifier: Apache-2.0
"""Child processes and temporary folders that end with the command, however it ends.

- A plain `kill` (SIGTERM) or a closed terminal (SIGHUP) raises `Terminated` in the main
  thread (`terminating_signals_raise`, installed by the CLI), so every `with` block unwinds
  as it does for Ctrl-C: emulators are ended, builds stopped, temporary folders removed.
- Children run in a process group of their own, and ending one ends its whole group (make's
  compilers with make).
- On Linux each child also asks the kernel for a parent-death signal (prctl
  PR_SET_PDEATHSIG): should the command die without unwinding (SIGKILL), its children get
  SIGTERM. The kernel sends it when the *thread* that started the child ends, so a child must
  be ended by the thread that started it (every `with` block here does).
- `shielded()` holds those signals back while cleanup runs, so a signal cannot cut a folder's
  removal in half; they take effect when the block ends.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
END_GRACE_SECONDS = 3.0
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class Terminated(BaseException):
    """The command was asked to stop by a signal. Like KeyboardInterrupt it is no Exception,
    so `except Exception` handlers (which record a failure and go on) let it through."""

    def __init__(self, signal_number: int):
        self.signal_number = signal_number
        super().__init__(f"terminated by {signal.Signals(signal_number).name}")


class _Shield:
    """How many shielded() blocks are running, and the signal that arrived meanwhile. One per
    process: signal handlers are per process too."""

    depth = 0
    pending: int | None = None


def _raise_terminated(signal_number: int, frame) -> None:
    if _Shield.depth:
        _Shield.pending = signal_number
        return
    raise Terminated(signal_number)


@contextmanager
def terminating_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated while the block runs (main thread only; elsewhere
    this does nothing, as Python runs signal handlers in the main thread alone)."""
    if not _in_main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_terminated) for number in TERMINATING_SIGNALS}
    previous_hook = sys.unraisablehook

    def deliver_again(unraisable) -> None:
        """Python swallows an exception raised in a finalizer (a __del__, a weakref callback):
        a Terminated raised there is sent again a moment later, from another thread (the
        hook is Python code too, where the handler would raise again)."""
        if isinstance(unraisable.exc_value, Terminated):
            number = unraisable.exc_value.signal_number
            threading.Timer(0.01, os.kill, (os.getpid(), number)).start()
        else:
            previous_hook(unraisable)

    sys.unraisablehook = deliver_again
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for number, handler in previous.items():
            signal.signal(number, handler)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# Only the main thread's shields count: signal handlers run there and nowhere else.
def _enter_shield() -> None:
    if _in_main_thread():
        _Shield.depth += 1


def _leave_shield() -> None:
    if not _in_main_thread():
        return
    _Shield.depth -= 1
    if _Shield.depth == 0 and _Shield.pending is not None:
        number, _Shield.pending = _Shield.pending, None
        raise Terminated(number)


@contextmanager
def shielded() -> Iterator[None]:
    """Terminating signals wait until the block has run."""
    _enter_shield()
    try:
        yield
    finally:
        _leave_shield()


@contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A new folder under the system's temporary folder, removed on every way out. Creating
    and removing it are shielded, so no signal falls between mkdtemp and the `try`."""
    _enter_shield()
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        _leave_shield()  # a signal that came meanwhile raises here, inside the try
        yield path
    finally:
        with shielded():
            shutil.rmtree(path, ignore_errors=True)


def die_with_parent(parent_pid: int) -> None:
    """Asks the kernel for SIGTERM when the parent (`parent_pid`) ends (Linux; elsewhere a
    no-op). For a child between fork and exec, or a worker process on its own start."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)


def _child_setup(parent_pid: int):
    """Runs in the child between fork and exec."""
    return lambda: die_with_parent(parent_pid)


def start(command: list[str], **popen_arguments) -> subprocess.Popen:
    """subprocess.Popen in a process group of its own, with the parent-death signal."""
    return subprocess.Popen(
        command, process_group=0, preexec_fn=_child_setup(os.getpid()), **popen_arguments
    )


def _signal_group(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass  # the group has ended


def end(process: subprocess.Popen, grace_seconds: float = END_GRACE_SECONDS) -> None:
    """Ends a child started by start() and everything in its group: SIGTERM, then SIGKILL
    after grace_seconds. The group is signalled before the child is reaped, while its id
    cannot have been reused."""
    with shielded():
        if process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def run(
    command: list[str],
    *,
    capture_output: bool = False,
    text: bool = False,
    check: bool = False,
    timeout: float | None = None,
    cwd: str | Path | None = None,
    input: str | bytes | None = None,
) -> subprocess.CompletedProcess:
    """subprocess.run for a child started by start(): on any exception (a timeout, Ctrl-C,
    Terminated) the child's whole group is ended before the exception goes on."""
    pipe = subprocess.PIPE if capture_output else None
    stdin = subprocess.PIPE if input is not None else None
    process = start(command, stdin=stdin, stdout=pipe, stderr=pipe, text=text, cwd=cwd)
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except BaseException:
        end(process, grace_seconds=0.5)
        raise
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if check:
        completed.check_returncode()
    return completed
