# SPDX-License-Identifier: Apache-2.0
"""Fuzzing the serial protocol against the harness firmware running in QEMU.

Each case sends one malformed frame (garbage, a frame cut short, a flipped bit, a lying
length field, an oversized or senseless request), or a valid frame slowly, or a frame cut by
a closed connection, and checks what the protocol promises: every frame that ends gets
exactly one reply, an ERROR with the code the damage calls for, and the firmware keeps
serving. Every wait has a deadline; one that passes is counted as a hang. After every case
the firmware must answer INFO (and nothing else first), and every 50 cases an inference must
give the same output bytes as before the fuzzing.

    python -m mcu_mobilenet.workflow.protocol_fuzz MODEL.tflite --frames 1000  # make fuzz-protocol
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcu_mobilenet import processes
from mcu_mobilenet.boards import DEFAULT_BOARD, load_board
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness import protocol
from mcu_mobilenet.harness.client import HarnessClient, HarnessTimeout
from mcu_mobilenet.harness.emulators import QemuUart, start_qemu
from mcu_mobilenet.workflow.firmware import build_for_model

REPLY_SECONDS = 10.0  # a reply takes milliseconds; one this late is a hang
ANY_ERROR = -1  # garbage may fail any of several checks first
INFERENCE_EVERY = 50
KIND_WEIGHTS = {
    "garbage": 4,
    "truncated": 4,
    "bad_crc": 4,
    "bad_header": 4,
    "oversized": 2,
    "wrong_request": 4,
    "slow": 2,
    "closed": 1,
}
KNOWN_TYPES = {
    protocol.CMD_INFO,
    protocol.CMD_INFER,
    protocol.CMD_BENCH,
    protocol.CMD_PROFILE,
    protocol.CMD_CALIBRATE,
    protocol.CMD_LOAD,
    protocol.CMD_CRASH,
}


@dataclass
class Case:
    """What to send and what must come back: per reply, the ERROR code it must carry, or
    None for the proper reply to `request` (its type | 0x80 and `sequence`)."""

    kind: str
    data: bytes
    expected: list[int | None]
    sequence: int = protocol.SEQUENCE_NONE
    request: int = 0
    piece_bytes: int = 0  # > 0: sent in pieces of up to this size with pauses between
    close_at: int = 0  # > 0: the connection is closed after this many bytes


@dataclass
class FuzzReport:
    board: str
    seed: int
    frames: int = 0
    by_kind: Counter = field(default_factory=Counter)
    error_codes: Counter = field(default_factory=Counter)
    hangs: int = 0
    wrong: list[str] = field(default_factory=list)
    alive_checks: int = 0
    inferences: int = 0
    reconnects: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.hangs == 0 and not self.wrong

    def note_wrong(self, number: int, case: Case, what: str) -> None:
        self.wrong.append(f"case {number} ({case.kind}): {what}")

    def to_json(self) -> dict:
        return {
            "board": self.board,
            "seed": self.seed,
            "frames": self.frames,
            "by_kind": dict(self.by_kind),
            "error_codes": {protocol.ERROR_NAMES[c]: n for c, n in self.error_codes.items()},
            "hangs": self.hangs,
            "wrong_replies": self.wrong,
            "alive_checks": self.alive_checks,
            "inferences": self.inferences,
            "reconnects": self.reconnects,
            "seconds": round(self.seconds, 1),
            "passed": self.passed,
        }

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.by_kind.items()))
        codes = ", ".join(
            f"{protocol.ERROR_NAMES[code]} {count}"
            for code, count in sorted(self.error_codes.items())
        )
        lines = [
            f"protocol fuzzing on {self.board} (seed {self.seed}): {self.frames} frames in "
            f"{self.seconds:.0f} s, {self.hangs} hangs, {len(self.wrong)} wrong replies",
            f"  cases: {kinds}",
            f"  errors answered: {codes}",
            f"  afterwards: INFO answered {self.alive_checks} times, {self.inferences} "
            f"inferences with unchanged output, {self.reconnects} reconnections",
        ]
        lines += [f"  wrong: {line}" for line in self.wrong[:10]]
        return "\n".join(lines)


class CaseMaker:
    """Seeded cases for one firmware (its largest payload and input size)."""

    def __init__(self, rng: random.Random, info: protocol.InfoReply):
        self.rng = rng
        self.max_payload = info.max_payload
        self.input_size = info.input.nbytes
        self._next_sequence = 0

    def sequence(self) -> int:
        self._next_sequence = self._next_sequence % 255 + 1
        return self._next_sequence

    def make(self, kind: str) -> Case:
        return getattr(self, f"_{kind}")()

    def _valid_body(self, sequence: int, small: bool = False) -> tuple[int, bytes]:
        """A request the firmware accepts: INFO, CALIBRATE or the start of a LOAD."""
        rng = self.rng
        command = rng.choice([protocol.CMD_INFO, protocol.CMD_CALIBRATE, protocol.CMD_LOAD])
        if command == protocol.CMD_INFO:
            payload = b""
        elif command == protocol.CMD_CALIBRATE:
            payload = struct.pack("<I", rng.randint(1, 1000))
        else:
            largest = min(64 if small else protocol.LOAD_CHUNK_BYTES, self.input_size - 1)
            payload = struct.pack("<I", 0) + rng.randbytes(rng.randint(1, largest))
        return command, protocol.frame_body(command, payload, sequence)

    def _garbage(self) -> Case:
        data = self.rng.randbytes(self.rng.randint(1, 300))
        if self.rng.random() < 0.5:
            data = data.replace(b"\x00", b"\x01")
        frames = [piece for piece in data.split(b"\x00") if piece]
        return Case("garbage", b"\x00" + data + b"\x00", [ANY_ERROR] * len(frames))

    def _truncated(self) -> Case:
        _, body = self._valid_body(self.sequence())
        encoded = protocol.wrap_body(body)
        cut = self.rng.randint(2, len(encoded) - 2)  # at least one byte, never the end
        return Case("truncated", encoded[:cut] + b"\x00", [protocol.ERR_TRUNCATED])

    def _bad_crc(self) -> Case:
        _, body = self._valid_body(self.sequence())
        damaged = bytearray(body)
        position = self.rng.randrange(protocol.HEADER_BYTES, len(damaged))
        damaged[position] ^= 1 << self.rng.randrange(8)
        return Case("bad_crc", protocol.wrap_body(bytes(damaged)), [protocol.ERR_BAD_CRC])

    def _bad_header(self) -> Case:
        _, body = self._valid_body(self.sequence())
        damaged = bytearray(body)
        position = self.rng.randrange(protocol.HEADER_BYTES)
        damaged[position] ^= 1 << self.rng.randrange(8)
        if position < 2:
            expected = protocol.ERR_BAD_SYNC
        elif position < 4:
            expected = protocol.ERR_BAD_CRC  # type or sequence: the CRC covers both
        else:
            claimed = struct.unpack("<I", damaged[4:8])[0]
            actual = len(body) - protocol.HEADER_BYTES - protocol.CRC_BYTES
            if claimed > self.max_payload:
                expected = protocol.ERR_TOO_LONG
            elif claimed > actual:
                expected = protocol.ERR_TRUNCATED
            else:
                expected = protocol.ERR_BAD_LENGTH
        return Case("bad_header", protocol.wrap_body(bytes(damaged)), [expected])

    def _oversized(self) -> Case:
        length = self.rng.randint(self.max_payload + 1, 2**32 - 1)
        header = struct.pack("<BBI", protocol.CMD_LOAD, self.sequence(), length)
        body = protocol.MAGIC + header + self.rng.randbytes(self.rng.randint(0, 2000))
        return Case("oversized", protocol.wrap_body(body), [protocol.ERR_TOO_LONG])

    def _wrong_request(self) -> Case:
        """Intact frames that ask for something the firmware must refuse."""
        rng = self.rng
        past_end = self.input_size + rng.randint(0, 1000)
        choices = [
            (rng.choice(sorted(set(range(256)) - KNOWN_TYPES)), b"", protocol.ERR_BAD_COMMAND),
            (protocol.CMD_INFO, rng.randbytes(rng.randint(1, 8)), protocol.ERR_BAD_LENGTH),
            (protocol.CMD_LOAD, struct.pack("<I", 7), protocol.ERR_BAD_LENGTH),
            (protocol.CMD_LOAD, struct.pack("<I", past_end) + b"x", protocol.ERR_BAD_ARGUMENT),
            (protocol.CMD_INFER, b"", protocol.ERR_BAD_LENGTH),
            (protocol.CMD_PROFILE, bytes(8), protocol.ERR_BAD_LENGTH),
            (protocol.CMD_INFER, bytes(4), protocol.ERR_NO_INPUT),
            (protocol.CMD_BENCH, struct.pack("<I", 3), protocol.ERR_NO_INPUT),
            (protocol.CMD_CALIBRATE, struct.pack("<I", 0), protocol.ERR_BAD_ARGUMENT),
            (protocol.CMD_CALIBRATE, bytes(2), protocol.ERR_BAD_LENGTH),
        ]
        command, payload, expected = rng.choice(choices)
        frame = protocol.encode_frame(command, payload, self.sequence())
        return Case("wrong_request", frame, [expected])

    def _slow(self) -> Case:
        sequence = self.sequence()
        command, body = self._valid_body(sequence, small=True)
        return Case(
            "slow", protocol.wrap_body(body), [None], sequence, command, self.rng.randint(1, 8)
        )

    def _closed(self) -> Case:
        _, body = self._valid_body(self.sequence())
        encoded = protocol.wrap_body(body)
        cut = self.rng.randint(2, len(encoded) - 2)
        # Its replies are checked with the INFO after it (see Fuzzer._check_alive).
        return Case("closed", encoded[:cut], [], close_at=cut)


class Fuzzer:
    def __init__(self, qemu: QemuUart, rng: random.Random, report: FuzzReport):
        self.qemu = qemu
        self.rng = rng
        self.report = report
        self.client = self._connect()
        self.maker = CaseMaker(rng, self.client.info())
        self.sample = rng.randbytes(self.client.info().input.nbytes)
        self.baseline = self.client.infer(self.sample).output

    def _connect(self) -> HarnessClient:
        client = self.qemu.connect(REPLY_SECONDS)
        client.synchronise()
        return client

    def run(self, frames: int, progress: Callable[[str], None]) -> None:
        kinds = list(KIND_WEIGHTS)
        weights = [KIND_WEIGHTS[kind] for kind in kinds]
        for number in range(1, frames + 1):
            case = self.maker.make(self.rng.choices(kinds, weights)[0])
            self.report.frames += 1
            self.report.by_kind[case.kind] += 1
            self._send(case)
            self._check_replies(number, case)
            self._check_alive(number, case)
            if number % INFERENCE_EVERY == 0:
                self._check_inference(number, case)
            if number % 100 == 0:
                progress(f"{number}/{frames} frames, {self.report.hangs} hangs")

    def _send(self, case: Case) -> None:
        write = self.client.transport.write
        if case.close_at:
            write(case.data, REPLY_SECONDS)
            time.sleep(0.05)
            self.client.transport.close()
            self.client = self.qemu.connect(REPLY_SECONDS)  # QEMU connects again
            self.report.reconnects += 1
            write = self.client.transport.write
            write(bytes([protocol.FRAME_DELIMITER]), REPLY_SECONDS)
            return
        if not case.piece_bytes:
            write(case.data, REPLY_SECONDS)
            return
        for start in range(0, len(case.data), case.piece_bytes):
            write(case.data[start : start + case.piece_bytes], REPLY_SECONDS)
            time.sleep(self.rng.uniform(0.0, 0.03))

    def _read(self, number: int, case: Case) -> protocol.Frame | None:
        try:
            return self.client.read_frame(REPLY_SECONDS)
        except HarnessTimeout as timeout:
            self.report.hangs += 1
            self.report.note_wrong(number, case, f"no reply: {timeout}")
        except protocol.MalformedFrame as bad:
            self.report.note_wrong(number, case, f"a malformed reply: {bad}")
        return None

    def _check_replies(self, number: int, case: Case) -> None:
        for want in case.expected:
            frame = self._read(number, case)
            if frame is None:
                return
            if frame.frame_type == protocol.REPLY_ERROR and frame.payload:
                self.report.error_codes[frame.payload[0]] += 1
            if want is None:
                proper = case.request | protocol.REPLY_FLAG
                if (frame.frame_type, frame.sequence) != (proper, case.sequence):
                    self.report.note_wrong(number, case, f"expected the reply, got {frame}")
            elif frame.frame_type != protocol.REPLY_ERROR or not (
                want == ANY_ERROR or frame.payload[:1] == bytes([want])
            ):
                name = "an error" if want == ANY_ERROR else protocol.ERROR_NAMES[want]
                self.report.note_wrong(number, case, f"expected {name}, got {frame}")

    def _check_alive(self, number: int, case: Case) -> None:
        """INFO must be answered, and first: nothing may be left over from the case. After a
        closed line, the cut frame's TRUNCATED may come first (if its bytes reached the
        firmware before the line closed)."""
        sequence = self.maker.sequence()
        self.client.transport.write(
            protocol.encode_frame(protocol.CMD_INFO, b"", sequence), REPLY_SECONDS
        )
        frame = self._read(number, case)
        truncated = bytes([protocol.ERR_TRUNCATED])
        if case.close_at and frame is not None and frame.frame_type == protocol.REPLY_ERROR:
            if frame.payload[:1] == truncated:
                self.report.error_codes[protocol.ERR_TRUNCATED] += 1
                frame = self._read(number, case)
        if frame is None:
            self._resynchronise()
            return
        if (frame.frame_type, frame.sequence) != (
            protocol.CMD_INFO | protocol.REPLY_FLAG,
            sequence,
        ):
            self.report.note_wrong(number, case, f"INFO afterwards got {frame}")
            self._resynchronise()
            return
        self.report.alive_checks += 1

    def _check_inference(self, number: int, case: Case) -> None:
        output = self.client.infer(self.sample).output
        self.report.inferences += 1
        if output != self.baseline:
            self.report.note_wrong(number, case, "an inference gave other output bytes")

    def _resynchronise(self) -> None:
        """After a wrong reply: find the firmware again, so one fault is counted once."""
        self.client.synchronise()


def fuzz_firmware(
    model: Path,
    board_name: str = DEFAULT_BOARD,
    frames: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> FuzzReport:
    """Builds the model's firmware for a QEMU board and fuzzes its protocol."""
    board = load_board(board_name)
    if board.emulator != "qemu":
        raise UserError(f"protocol fuzzing runs on QEMU boards; {board.name} is not one")
    report = FuzzReport(board.name, seed)
    start = time.monotonic()
    with processes.temporary_folder("mcu-fuzz-") as tmp:
        built = build_for_model(model, board, tmp, "portable")
        with start_qemu(board, built.firmware.elf, reconnect_seconds=1) as qemu:
            fuzzer = Fuzzer(qemu, random.Random(seed), report)
            try:
                fuzzer.run(frames, progress)
            finally:
                fuzzer.client.transport.close()
    report.seconds = time.monotonic() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcu_mobilenet.workflow.protocol_fuzz",
        description="Fuzz the serial protocol of the harness firmware running in QEMU.",
    )
    parser.add_argument("model", type=Path, help="int8 .tflite model the firmware is built with")
    parser.add_argument("--board", default=DEFAULT_BOARD, help="a QEMU board")
    parser.add_argument("--frames", type=int, default=1000, help="malformed frames to send")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = fuzz_firmware(
            args.model,
            args.board,
            args.frames,
            args.seed,
            progress=lambda message: print(f"fuzz: {message}", file=sys.stderr, flush=True),
        )
    except UserError as error:
        print(f"fuzz: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
