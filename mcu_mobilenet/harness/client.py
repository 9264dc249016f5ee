# SPDX-License-Identifier: Apache-2.0
"""The host's side of a conversation with the harness firmware: one request, one reply."""

from __future__ import annotations

import time
from collections.abc import Callable

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness import protocol
from mcu_mobilenet.harness.transport import LineClosed, Transport


class HarnessTimeout(UserError):
    """The board did not answer in time."""


class HarnessClient:
    """Sends requests and reads replies. `check_alive(grace_seconds)` raises if the emulator
    behind the line has died (waiting up to grace_seconds for it to finish dying); it is
    polled while waiting so a crash is reported at once."""

    def __init__(
        self,
        transport: Transport,
        check_alive: Callable[[float], None] = lambda grace_seconds: None,
        timeout_seconds: float = 30.0,
    ):
        self.transport = transport
        self.check_alive = check_alive
        self.timeout_seconds = timeout_seconds
        self._info: protocol.InfoReply | None = None

    def read_exact(self, count: int, deadline: float, what: str) -> bytes:
        data = bytearray()
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HarnessTimeout(
                    f"no complete reply from {self.transport.description} within "
                    f"{self.timeout_seconds:.0f} s ({len(data)} of {count} bytes of the {what}"
                    " arrived); is the harness firmware running on it? (raise --timeout for "
                    "slow boards)"
                )
            try:
                chunk = self.transport.read_some(count - len(data), min(remaining, 0.2))
            except LineClosed:
                self.check_alive(2.0)  # a dead emulator explains a closed line best
                raise
            if not chunk:
                self.check_alive(0.0)
            data += chunk
        return bytes(data)

    def read_frame(self, timeout_seconds: float | None = None) -> protocol.Frame:
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        deadline = time.monotonic() + timeout
        header = self.read_exact(protocol.HEADER_BYTES, deadline, "reply header")
        frame_type, length = protocol.decode_header(header)
        payload = self.read_exact(length, deadline, "reply payload")
        crc = self.read_exact(protocol.CRC_BYTES, deadline, "reply CRC")
        return protocol.check_crc(frame_type, payload, crc)

    def exchange(self, request: bytes, timeout_seconds: float | None = None) -> protocol.Frame:
        self.transport.write(request)
        return self.read_frame(timeout_seconds)

    def wait_ready(self, seconds: float = 20.0) -> str:
        """Waits for the READY frame a freshly started board sends; returns its build id.
        Requests sent before it could be lost: the UART is not enabled yet."""
        frame = self.read_frame(seconds)
        protocol.raise_for_error(frame)
        if frame.frame_type != protocol.REPLY_READY:
            raise protocol.ProtocolError(
                f"expected the firmware's READY frame at boot, got type 0x{frame.frame_type:02x}"
            )
        return frame.payload.decode("ascii", errors="replace")

    def synchronise(self, attempts: int = 3, seconds: float = 3.0) -> protocol.InfoReply:
        """Starts a conversation with a board that may have been running for a while: drops
        stale bytes (a READY frame, a half-read reply) and asks INFO until it gets an answer."""
        last_error: Exception | None = None
        for _ in range(attempts):
            while self.transport.read_some(4096, 0.3):
                pass
            try:
                self._info = protocol.parse_info(
                    self.exchange(protocol.encode_request(protocol.CMD_INFO), seconds)
                )
                return self._info
            except (protocol.ProtocolError, protocol.FirmwareError, HarnessTimeout) as error:
                last_error = error
        raise HarnessTimeout(
            f"{self.transport.description} did not answer INFO in {attempts} attempts "
            f"({last_error}); is the harness firmware flashed and the baud rate 115200?"
        )

    def info(self) -> protocol.InfoReply:
        if self._info is None:
            self._info = protocol.parse_info(
                self.exchange(protocol.encode_request(protocol.CMD_INFO))
            )
        return self._info

    def _check_input(self, data: bytes) -> None:
        expected = self.info().input.nbytes
        if len(data) != expected:
            raise UserError(f"input has {len(data)} bytes, the model on the board takes {expected}")

    def infer(self, data: bytes) -> protocol.InferReply:
        self._check_input(data)
        frame = self.exchange(protocol.encode_request(protocol.CMD_INFER, 0, data))
        return protocol.parse_infer(frame, self.info().output.nbytes)

    def profile(self, data: bytes) -> protocol.ProfileReply:
        self._check_input(data)
        frame = self.exchange(protocol.encode_request(protocol.CMD_PROFILE, 0, data))
        return protocol.parse_profile(frame, self.info().output.nbytes)

    def bench(self, data: bytes, runs: int) -> protocol.BenchReply:
        self._check_input(data)
        request = protocol.encode_request(protocol.CMD_BENCH, runs, data)
        return protocol.parse_bench(self.exchange(request, self.timeout_seconds * runs))

    def calibrate(self, iterations: int) -> int:
        """Ticks taken by a loop of exactly 2 x iterations instructions."""
        request = protocol.encode_request(protocol.CMD_CALIBRATE, iterations)
        return protocol.parse_calibrate(self.exchange(request))
