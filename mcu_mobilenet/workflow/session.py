# SPDX-License-Identifier: Apache-2.0
"""One conversation with a model running on a board: build the firmware, start the emulator
or open the serial port (flashing a real board first), check the board runs this build."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcu_mobilenet import processes
from mcu_mobilenet.boards import Board
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness.client import HarnessClient
from mcu_mobilenet.harness.emulators import run_qemu, run_renode
from mcu_mobilenet.harness.transport import SerialTransport
from mcu_mobilenet.workflow.firmware import ModelFirmware, build_for_model
from mcu_mobilenet.workflow.flashing import flash_firmware

# Slowest speed the default timeout allows for: 1 M mult-adds per second (QEMU runs about
# 10 M, a 16 MHz Cortex-M4 about 3 M). Inputs travel in acknowledged chunks, each well within
# the 30 s base.
SLOWEST_MACS_PER_SECOND = 1_000_000


@dataclass
class BoardSession:
    board: Board
    built: ModelFirmware
    client: HarnessClient

    @property
    def time_unit(self) -> str:
        return self.board.time_unit

    def time(self, ticks: int) -> int:
        return self.board.ticks_to_time(ticks)

    def output_values(self, output: bytes) -> np.ndarray:
        """The output bytes of a reply as the model's output type (int8 or float32)."""
        return np.frombuffer(output, dtype=np.dtype(self.built.output.dtype))


def default_timeout(built: ModelFirmware) -> float:
    """The longest wait for one reply: an inference at the slowest speed, or one LOAD."""
    return 30.0 + built.compile_report["macs"] / SLOWEST_MACS_PER_SECOND


@contextmanager
def open_session(
    model_path: str | Path,
    board: Board,
    port: str | None = None,
    backend: str = registry.DEFAULT,
    timeout: float | None = None,
    flash: bool = True,
) -> Iterator[BoardSession]:
    with processes.temporary_folder("mcu-firmware-") as tmp:
        built = build_for_model(model_path, board, tmp, backend)
        seconds = timeout or default_timeout(built)
        with _connect(board, built.firmware.elf, port, seconds, flash) as client:
            running = client.info().build_id
            if running != built.firmware.build_id:
                raise UserError(
                    f"{port or board.name} runs firmware build {running}, not {model_path}'s "
                    f"{built.firmware.build_id}: flash it (drop --no-flash) or start it with "
                    "the firmware `mcu-mobilenet build` made"
                )
            yield BoardSession(board, built, client)


@contextmanager
def _connect(
    board: Board, elf: Path, port: str | None, timeout: float, flash: bool
) -> Iterator[HarnessClient]:
    if port is not None:
        if board.emulator == "none" and flash:
            flash_firmware(board, elf)
        transport = SerialTransport(port)
        try:
            client = HarnessClient(transport, timeout_seconds=timeout)
            client.synchronise()
            yield client
        finally:
            transport.close()
    elif board.emulator == "qemu":
        with run_qemu(board, elf, timeout) as client:
            yield client
    elif board.emulator == "renode":
        with run_renode(board, elf, timeout) as client:
            yield client
    else:
        raise UserError(
            f"{board.name} is a real board: connect it and pass its serial port, for example "
            "--port /dev/ttyACM0"
        )
