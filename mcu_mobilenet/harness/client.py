# SPDX-License-Identifier: Apache-2.0
"""The host's side of a conversation with the harness firmware: one request, one reply.

Every wait has a deadline on the host's clock, and every error says how long it waited. The
firmware itself never times out (frames are delimited, see protocol.py), so a loaded host
can make a conversation slow but never corrupt it. Inputs go in acknowledged LOAD chunks, so
no single wait covers more than one chunk's transfer.
"""

from __future__ import annotations

import struct
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness import protocol
from mcu_mobilenet.harness.transport import LineClosed, Transport

POLL_SECONDS = 0.2  # longest single read, so a dead emulator is noticed quickly
RESEND_SECONDS = 1.0  # synchronise() asks INFO again this often until the deadline

REQUEST_NAMES = {
    protocol.CMD_INFO: "INFO",
    protocol.CMD_INFER: "INFER",
    protocol.CMD_BENCH: "BENCH",
    protocol.CMD_PROFILE: "PROFILE",
    protocol.CMD_CALIBRATE: "CALIBRATE",
    protocol.CMD_LOAD: "LOAD",
    protocol.CMD_CRASH: "CRASH",
}
FRAME_NAMES = {protocol.REPLY_READY: "READY", protocol.REPLY_ERROR: "ERROR"}


class HarnessTimeout(UserError):
    """The board did not answer in time."""


@dataclass
class LineNoise:
    """What arrived while the host waited that was not what it waited for: said in the
    timeout's message, since it usually tells what is wrong (wrong port, baud, firmware)."""

    malformed: int = 0
    first_malformed: str = ""
    other_frames: Counter = field(default_factory=Counter)
    stale_errors: int = 0

    def note_malformed(self, error: protocol.MalformedFrame) -> None:
        self.malformed += 1
        self.first_malformed = self.first_malformed or str(error)

    def note_frame(self, frame: protocol.Frame) -> None:
        if frame.frame_type == protocol.REPLY_ERROR:
            self.stale_errors += 1
        else:
            name = FRAME_NAMES.get(frame.frame_type, f"type 0x{frame.frame_type:02x}")
            self.other_frames[name] += 1

    def describe(self, unframed: bytes, dropped_bytes: int) -> str:
        parts = []
        if unframed or dropped_bytes:
            sample = unframed[:16].hex(" ")
            parts.append(
                f"{len(unframed) + dropped_bytes} bytes that did not form a frame"
                + (f" ({sample}{' ...' if len(unframed) > 16 else ''})" if sample else "")
            )
        if self.malformed:
            parts.append(f"{self.malformed} malformed frames (first: {self.first_malformed})")
        if self.other_frames:
            frames = ", ".join(f"{name} x{count}" for name, count in self.other_frames.items())
            parts.append(f"frames that answer no request of this wait ({frames})")
        if self.stale_errors:
            parts.append(f"{self.stale_errors} errors about earlier frames")
        return f"; it sent {', '.join(parts)}" if parts else "; it sent nothing"


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
        self._splitter = protocol.FrameSplitter()
        self._received: deque[bytes] = deque()
        self._sequence = protocol.SEQUENCE_NONE

    def next_sequence(self) -> int:
        """1 to 255 in turn: 0 is the firmware's for frames that answer no request."""
        self._sequence = self._sequence % 255 + 1
        return self._sequence

    def send(self, data: bytes, deadline: float) -> None:
        self.transport.write(data, max(deadline - time.monotonic(), 0.0))

    def _next_encoded(self, deadline: float) -> bytes | None:
        """The next delimited frame from the line, or None at the deadline."""
        while not self._received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                chunk = self.transport.read_some(65536, min(remaining, POLL_SECONDS))
            except LineClosed:
                self.check_alive(2.0)  # a dead emulator explains a closed line best
                raise
            if not chunk:
                self.check_alive(0.0)
            self._received.extend(self._splitter.feed(chunk))
        return self._received.popleft()

    def read_frame(self, timeout_seconds: float | None = None) -> protocol.Frame:
        """The next frame, whatever it answers; raises MalformedFrame for a bad one."""
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        start = time.monotonic()
        encoded = self._next_encoded(start + timeout)
        if encoded is None:
            raise HarnessTimeout(
                f"no frame from {self.transport.description} within "
                f"{time.monotonic() - start:.1f} s{self._describe(LineNoise())}"
            )
        return protocol.decode_frame(encoded)

    def _describe(self, noise: LineNoise) -> str:
        return noise.describe(self._splitter.pending, self._splitter.dropped_bytes)

    def _await_reply(
        self, sequences: set[int], command: int, deadline: float, noise: LineNoise
    ) -> protocol.Frame | None:
        """The reply to `command` sent under one of `sequences`, or None at the deadline.
        Frames that answer something else are noted in `noise` and skipped; an ERROR or a
        FAULT about this request, or this reply damaged, raises."""
        reply_type = command | protocol.REPLY_FLAG
        while (encoded := self._next_encoded(deadline)) is not None:
            try:
                frame = protocol.decode_frame(encoded)
            except protocol.MalformedFrame as bad:
                ours = bad.sequence in sequences
                if ours and bad.frame_type in (reply_type, protocol.REPLY_ERROR):
                    raise
                noise.note_malformed(bad)
                continue
            if frame.frame_type == protocol.REPLY_FAULT:
                protocol.raise_for_error(frame)  # a fault is news whenever it comes
            if frame.sequence in sequences and frame.frame_type in (
                reply_type,
                protocol.REPLY_ERROR,
            ):
                protocol.raise_for_error(frame)
                return frame
            noise.note_frame(frame)
        return None

    def exchange(
        self, command: int, payload: bytes = b"", timeout_seconds: float | None = None
    ) -> protocol.Frame:
        """Sends one request and returns its reply (ERROR and FAULT replies raise)."""
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        start = time.monotonic()
        deadline = start + timeout
        sequence = self.next_sequence()
        self.send(protocol.encode_frame(command, payload, sequence), deadline)
        noise = LineNoise()
        frame = self._await_reply({sequence}, command, deadline, noise)
        if frame is None:
            name = REQUEST_NAMES.get(command, f"request 0x{command:02x}")
            raise HarnessTimeout(
                f"no reply to {name} from {self.transport.description} within "
                f"{time.monotonic() - start:.1f} s{self._describe(noise)}; is the harness "
                "firmware running on it? (raise --timeout for slow boards)"
            )
        return frame

    def wait_ready(self, seconds: float = 20.0) -> str:
        """Waits for the READY frame a freshly started board sends; returns its build id.
        Requests sent before it could be lost: the UART is not enabled yet."""
        start = time.monotonic()
        noise = LineNoise()
        while (encoded := self._next_encoded(start + seconds)) is not None:
            try:
                frame = protocol.decode_frame(encoded)
            except protocol.MalformedFrame as bad:
                noise.note_malformed(bad)
                continue
            protocol.raise_for_error(frame)
            if frame.frame_type == protocol.REPLY_READY:
                return frame.payload.decode("ascii", errors="replace")
            noise.note_frame(frame)
        raise HarnessTimeout(
            f"no READY frame from {self.transport.description} within "
            f"{time.monotonic() - start:.1f} s of its start{self._describe(noise)}"
        )

    def synchronise(self, timeout_seconds: float | None = None) -> protocol.InfoReply:
        """Starts a conversation with a board that may have been running for a while: asks
        INFO, again every RESEND_SECONDS, until an answer to any of them arrives or the
        deadline passes. Stale frames (READY, replies to an earlier host) are skipped."""
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        start = time.monotonic()
        deadline = start + timeout
        sent: set[int] = set()
        noise = LineNoise()
        while time.monotonic() < deadline:
            sequence = self.next_sequence()
            sent.add(sequence)
            self.send(protocol.encode_frame(protocol.CMD_INFO, b"", sequence), deadline)
            attempt_deadline = min(deadline, time.monotonic() + RESEND_SECONDS)
            try:
                frame = self._await_reply(sent, protocol.CMD_INFO, attempt_deadline, noise)
            except protocol.MalformedFrame as damaged:  # our reply, corrupted: ask again
                noise.note_malformed(damaged)
                continue
            except protocol.FirmwareError:  # our request arrived corrupted: ask again
                noise.stale_errors += 1
                continue
            if frame is not None:
                self._info = protocol.parse_info(frame)
                return self._info
        raise HarnessTimeout(
            f"{self.transport.description} did not answer INFO within "
            f"{time.monotonic() - start:.1f} s ({len(sent)} requests sent{self._describe(noise)});"
            " is the harness firmware flashed and the baud rate 115200?"
        )

    def info(self) -> protocol.InfoReply:
        if self._info is None:
            self._info = protocol.parse_info(self.exchange(protocol.CMD_INFO))
        return self._info

    def load(self, data: bytes) -> None:
        """Puts an input into the model's input slot, one acknowledged chunk at a time."""
        expected = self.info().input.nbytes
        if len(data) != expected:
            raise UserError(f"input has {len(data)} bytes, the model on the board takes {expected}")
        chunk_bytes = min(protocol.LOAD_CHUNK_BYTES, self.info().max_payload - 4)
        for offset in range(0, len(data), chunk_bytes):
            chunk = data[offset : offset + chunk_bytes]
            frame = self.exchange(protocol.CMD_LOAD, struct.pack("<I", offset) + chunk)
            loaded = protocol.parse_load(frame)
            if loaded != offset + len(chunk):
                raise protocol.ProtocolError(
                    f"the board says {loaded} input bytes are loaded, the host sent "
                    f"{offset + len(chunk)}"
                )

    def infer(self, data: bytes) -> protocol.InferReply:
        self.load(data)
        frame = self.exchange(protocol.CMD_INFER, struct.pack("<I", 0))
        return protocol.parse_infer(frame, self.info().output.nbytes)

    def profile(self, data: bytes) -> protocol.ProfileReply:
        self.load(data)
        frame = self.exchange(protocol.CMD_PROFILE, struct.pack("<I", 0))
        return protocol.parse_profile(frame, self.info().output.nbytes)

    def bench(self, data: bytes, runs: int) -> protocol.BenchReply:
        self.load(data)
        request = struct.pack("<I", runs)
        return protocol.parse_bench(
            self.exchange(protocol.CMD_BENCH, request, self.timeout_seconds * max(runs, 1))
        )

    def calibrate(self, iterations: int) -> int:
        """Ticks taken by a loop of exactly 2 x iterations instructions."""
        request = struct.pack("<I", iterations)
        return protocol.parse_calibrate(self.exchange(protocol.CMD_CALIBRATE, request))
