# SPDX-License-Identifier: Apache-2.0
"""Starting emulators with the firmware's UART on a TCP socket, and always ending them.

QEMU connects to us as a TCP client: the host listens on port 0 first, so there is no race
for a free port. Renode only offers a server socket terminal, so the host picks a free port
and connects to it. Every process started here is ended when the `with` block exits, on
errors, Ctrl-C and `kill` too (mcu_mobilenet/processes.py).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcu_mobilenet import processes
from mcu_mobilenet.boards import Board
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness.client import HarnessClient
from mcu_mobilenet.harness.transport import SocketTransport

QEMU = "qemu-system-arm"
RENODE = "renode"
CONNECT_TIMEOUT_SECONDS = 20.0


class EmulatorDied(UserError):
    """The emulator process ended while the host was talking to it."""


class _Process:
    """An emulator process whose output goes to a temporary log file (never a pipe that could
    fill up and block it)."""

    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.command = command
        self._log = tempfile.TemporaryFile(prefix="mcu-emulator-")
        try:
            self._process = processes.start(
                command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
            )
        except OSError as error:
            self._log.close()
            raise UserError(f"cannot start {name} ({command[0]}): {error}") from error

    def check_alive(self, grace_seconds: float = 0.0) -> None:
        try:
            code = self._process.wait(timeout=grace_seconds) if grace_seconds else None
        except subprocess.TimeoutExpired:
            code = None
        code = self._process.poll() if code is None else code
        if code is not None:
            raise EmulatorDied(
                f"{self.name} exited with status {code} while the harness was talking to it: "
                f"{self.last_output_line()}"
            )

    def last_output_line(self) -> str:
        """The emulator's own complaint if it made one (a register dump may follow it)."""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        complaints = [line for line in lines if re.search(r"(?i)error|fatal|qemu", line)]
        return (complaints or lines or ["no output"])[-1].strip()

    def end(self) -> None:
        processes.end(self._process)
        self._log.close()


def qemu_command(
    board: Board, elf: Path, port: int, reconnect_seconds: int | None = None
) -> list[str]:
    """`-icount shift=0`: one instruction is one nanosecond of virtual time (timing).
    `nodelay`: no Nagle delay on the UART's socket (it held every reply for 40 ms)."""
    assert board.qemu is not None
    serial = f"tcp:127.0.0.1:{port},nodelay=on"
    if reconnect_seconds is not None:
        serial += f",reconnect={reconnect_seconds}"
    return [
        QEMU,
        "-machine", board.qemu.machine,
        "-display", "none",
        "-monitor", "none",
        "-serial", serial,
        "-icount", "shift=0",
        *board.qemu.args,
        "-kernel", str(elf),
    ]  # fmt: skip


class QemuUart:
    """A running QEMU and the socket its UART connects to."""

    def __init__(self, board: Board, listener: socket.socket, process: _Process):
        self.board = board
        self.listener = listener
        self.process = process

    def connect(self, timeout_seconds: float) -> HarnessClient:
        """Waits for QEMU to connect the UART; the caller closes the client's transport."""
        connection = _accept(self.listener, self.process)
        transport = SocketTransport(connection, f"QEMU {self.board.name} UART")
        return HarnessClient(transport, self.process.check_alive, timeout_seconds)


@contextmanager
def start_qemu(board: Board, elf: Path, reconnect_seconds: int | None = None) -> Iterator[QemuUart]:
    """QEMU running `elf`, ended when the block exits. With reconnect_seconds, QEMU connects
    again that long after the host closes the UART's connection (tests of a closed line); it
    then does not wait for the first connection, so the READY frame may be lost."""
    if shutil.which(QEMU) is None:
        raise UserError(f"{QEMU} not found: install QEMU (Debian: apt-get install qemu-system-arm)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        command = qemu_command(board, elf, port, reconnect_seconds)
        process = _Process(f"QEMU ({board.name})", command)
        try:
            yield QemuUart(board, listener, process)
        finally:
            process.end()


@contextmanager
def run_qemu(board: Board, elf: Path, timeout_seconds: float) -> Iterator[HarnessClient]:
    with start_qemu(board, elf) as qemu:
        client = qemu.connect(timeout_seconds)
        try:
            client.wait_ready()
            yield client
        finally:
            client.transport.close()


@contextmanager
def _client(
    connection: socket.socket, process: _Process, name: str, timeout_seconds: float
) -> Iterator[HarnessClient]:
    """The harness client over an emulator's UART socket; a dead emulator is reported."""
    transport = SocketTransport(connection, name)
    try:
        yield HarnessClient(transport, process.check_alive, timeout_seconds)
    finally:
        transport.close()


def _accept(listener: socket.socket, process: _Process) -> socket.socket:
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
    listener.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            connection, _ = listener.accept()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection
        except TimeoutError:
            process.check_alive()
    raise UserError(f"{process.name} did not connect its UART within {CONNECT_TIMEOUT_SECONDS} s")


def renode_script(board: Board, elf: Path, port: int) -> str:
    """A wrapper that sets the board script's two variables, then runs it."""
    assert board.renode is not None
    script = board.directory / board.renode.script
    return f"$elf=@{elf}\n$port={port}\ninclude @{script}\n"


@contextmanager
def run_renode(board: Board, elf: Path, timeout_seconds: float) -> Iterator[HarnessClient]:
    if shutil.which(RENODE) is None:
        raise UserError(f"{RENODE} not found: install Renode (renode.io) to run {board.name}")
    port = _free_port()
    with processes.temporary_folder("mcu-renode-") as tmp:
        wrapper = tmp / "start.resc"
        wrapper.write_text(renode_script(board, elf, port))
        process = _Process(f"Renode ({board.name})", [RENODE, "--disable-xwt", str(wrapper)])
        try:
            connection = _connect(port, process)
            name = f"Renode {board.name} UART"
            with _client(connection, process, name, timeout_seconds) as client:
                client.synchronise()
                yield client
        finally:
            process.end()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _connect(port: int, process: _Process) -> socket.socket:
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=1.0)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection
        except OSError:
            process.check_alive()
            time.sleep(0.2)
    raise UserError(
        f"{process.name} did not open its UART socket within {CONNECT_TIMEOUT_SECONDS} s"
    )
