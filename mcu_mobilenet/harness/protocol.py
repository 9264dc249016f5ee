# SPDX-License-Identifier: Apache-2.0
"""The framed serial protocol spoken by firmware/harness (docs/readme-firmware.md).

Frame, both directions, little-endian: b"MM" | type (u8) | payload length (u32) | payload |
CRC-32 (zlib) of type, length and payload. The host sends one request and reads one reply.
This module only encodes and decodes; `HarnessClient` in client.py does the conversation.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.tensor_info import TensorInfo, byte_count

MAGIC = b"MM"
HEADER_BYTES = 7
CRC_BYTES = 4
PROTOCOL_VERSION = 1
ARGUMENT_BYTES = 4  # requests with an input carry a u32 argument first
MAX_BENCH_RUNS = 101  # the most runs one BENCH request may ask for

CMD_INFO = 0x01
CMD_INFER = 0x02
CMD_BENCH = 0x03
CMD_PROFILE = 0x04
CMD_CALIBRATE = 0x05  # times a loop of exactly 2 x argument instructions
CMD_CRASH = 0x0E
REPLY_FLAG = 0x80
REPLY_ERROR = 0x7F
REPLY_FAULT = 0x7E
REPLY_READY = 0x7D  # sent once at boot, payload: the build id

ERROR_NAMES = {
    1: "bad sync",
    2: "truncated frame",
    3: "frame too long",
    4: "bad CRC",
    5: "unknown command",
    6: "bad length",
    7: "bad argument",
    8: "model error",
}
ERR_BAD_SYNC, ERR_TRUNCATED, ERR_TOO_LONG, ERR_BAD_CRC = 1, 2, 3, 4
ERR_BAD_COMMAND, ERR_BAD_LENGTH, ERR_BAD_ARGUMENT, ERR_MODEL = 5, 6, 7, 8

TENSOR_DTYPES = ("int8", "float32")  # the element types a model input or output can have

# Largest reply the host accepts: guards against reading forever on a corrupted length.
MAX_REPLY_PAYLOAD = 16 * 1024 * 1024


class ProtocolError(UserError):
    """The bytes from the board do not form a valid frame."""


class FirmwareError(UserError):
    """The firmware answered with an ERROR frame."""

    def __init__(self, code: int, message: str):
        self.code = code
        name = ERROR_NAMES.get(code, f"error {code}")
        super().__init__(f"the firmware replied with an error ({name}): {message}")


class FirmwareFault(UserError):
    """The firmware hit a HardFault and reported it."""

    def __init__(self, registers: dict[str, int]):
        self.registers = registers
        detail = ", ".join(f"{name}=0x{value:08x}" for name, value in registers.items())
        super().__init__(
            f"the firmware crashed with a fault ({detail}); look the pc up in the firmware's "
            "map file or with arm-none-eabi-addr2line -e firmware.elf"
        )


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(frame_type: int, payload: bytes = b"") -> bytes:
    body = struct.pack("<BI", frame_type, len(payload)) + payload
    return MAGIC + body + struct.pack("<I", crc32(body))


def encode_request(command: int, argument: int | None = None, data: bytes | None = None) -> bytes:
    """Requests with an input carry a 4-byte argument first (BENCH: the number of runs)."""
    if argument is None and data is None:
        return encode_frame(command)
    return encode_frame(command, struct.pack("<I", argument or 0) + (data or b""))


@dataclass(frozen=True)
class Frame:
    frame_type: int
    payload: bytes


def decode_header(header: bytes) -> tuple[int, int]:
    """Returns (type, payload length) of a 7-byte header, or raises ProtocolError."""
    if header[:2] != MAGIC:
        raise ProtocolError(
            f"garbage on the serial line: expected a frame starting with 'MM', got "
            f"{header[:16].hex(' ')} (wrong port or baud rate, or firmware that is not the "
            "mcu-mobilenet harness)"
        )
    frame_type, length = struct.unpack("<BI", header[2:HEADER_BYTES])
    if length > MAX_REPLY_PAYLOAD:
        raise ProtocolError(f"reply announces {length} payload bytes: the line is corrupted")
    return frame_type, length


def check_crc(frame_type: int, payload: bytes, crc_bytes: bytes) -> Frame:
    body = struct.pack("<BI", frame_type, len(payload)) + payload
    (received,) = struct.unpack("<I", crc_bytes)
    if received != crc32(body):
        raise ProtocolError(
            f"reply frame of type 0x{frame_type:02x} has a bad CRC: the serial line "
            "corrupted it (check the baud rate and cable)"
        )
    return Frame(frame_type, payload)


@dataclass(frozen=True)
class InfoReply:
    protocol_version: int
    board: str
    build_id: str
    model_prefix: str
    timer_kind: str
    timer_hz: int
    max_payload: int
    byte_timeout_ms: int
    arena_bytes: int
    scratch_bytes: int
    weights_bytes: int
    stack_bytes: int
    init_status: int
    input: TensorInfo
    output: TensorInfo
    layer_names: tuple[str, ...]


@dataclass(frozen=True)
class InferReply:
    ticks: int
    stack_used: int
    output: bytes


@dataclass(frozen=True)
class ProfileReply:
    ticks: int
    stack_used: int
    layer_ticks: tuple[int, ...]
    output: bytes


@dataclass(frozen=True)
class BenchReply:
    runs: int
    min_ticks: int
    median_ticks: int
    max_ticks: int
    stack_used: int


class _Reader:
    """Sequential little-endian reads from a payload, with a clear error when it runs out."""

    def __init__(self, payload: bytes, what: str):
        self.payload = payload
        self.offset = 0
        self.what = what

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.payload):
            raise ProtocolError(f"{self.what} reply is {len(self.payload)} bytes, too short")
        chunk = self.payload[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (length,) = self.unpack("B")
        return self.take(length).decode("ascii", errors="replace")

    def tensor(self) -> TensorInfo:
        """Size in bytes, rank, dims, scale, zero point; the element type follows from the size
        (int8: one byte per element, float32: four)."""
        size, rank = self.unpack("IB")
        shape = tuple(self.unpack(f"{rank}I"))
        scale, zero_point = self.unpack("fi")
        dtype = next((d for d in TENSOR_DTYPES if byte_count(shape, d) == size), None)
        if dtype is None:
            raise ProtocolError(
                f"{self.what} reply describes a tensor of {size} bytes with shape {list(shape)}, "
                "which is neither int8 nor float32"
            )
        return TensorInfo(shape, dtype, scale, zero_point)

    def rest(self) -> bytes:
        return self.take(len(self.payload) - self.offset)

    def finish(self) -> None:
        if self.offset != len(self.payload):
            extra = len(self.payload) - self.offset
            raise ProtocolError(f"{self.what} reply has {extra} unexpected trailing bytes")


def raise_for_error(frame: Frame) -> None:
    if frame.frame_type == REPLY_ERROR:
        code = frame.payload[0] if frame.payload else 0
        raise FirmwareError(code, frame.payload[1:].decode("ascii", errors="replace"))
    if frame.frame_type == REPLY_FAULT:
        names = ("pc", "lr", "xpsr", "cfsr", "hfsr", "mmfar", "bfar", "sp", "exception")
        values = _Reader(frame.payload, "FAULT").unpack(f"{len(names)}I")
        raise FirmwareFault(dict(zip(names, values, strict=True)))


def expect_reply(frame: Frame, command: int) -> _Reader:
    raise_for_error(frame)
    if frame.frame_type != command | REPLY_FLAG:
        raise ProtocolError(
            f"expected the reply to request 0x{command:02x}, got frame type "
            f"0x{frame.frame_type:02x}"
        )
    return _Reader(frame.payload, f"request 0x{command:02x}")


def parse_info(frame: Frame) -> InfoReply:
    reader = expect_reply(frame, CMD_INFO)
    (version,) = reader.unpack("B")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the firmware speaks protocol version {version}, this host {PROTOCOL_VERSION}: "
            "rebuild and reflash the firmware with this version of mcu-mobilenet"
        )
    board, build_id, prefix, timer_kind = (reader.string() for _ in range(4))
    numbers = reader.unpack("7Ii")
    input_info, output_info = reader.tensor(), reader.tensor()
    (layer_count,) = reader.unpack("H")
    names = tuple(reader.string() for _ in range(layer_count))
    reader.finish()
    return InfoReply(
        version, board, build_id, prefix, timer_kind, *numbers, input_info, output_info, names
    )


def parse_infer(frame: Frame, output_size: int) -> InferReply:
    reader = expect_reply(frame, CMD_INFER)
    ticks, stack_used = reader.unpack("QI")
    output = reader.take(output_size)
    reader.finish()
    return InferReply(ticks, stack_used, output)


def parse_profile(frame: Frame, output_size: int) -> ProfileReply:
    reader = expect_reply(frame, CMD_PROFILE)
    ticks, stack_used, layer_count = reader.unpack("QIH")
    layer_ticks = reader.unpack(f"{layer_count}Q")
    output = reader.take(output_size)
    reader.finish()
    return ProfileReply(ticks, stack_used, tuple(layer_ticks), output)


def parse_bench(frame: Frame) -> BenchReply:
    reader = expect_reply(frame, CMD_BENCH)
    reply = BenchReply(*reader.unpack("IQQQI"))
    reader.finish()
    return reply


def parse_calibrate(frame: Frame) -> int:
    reader = expect_reply(frame, CMD_CALIBRATE)
    (ticks,) = reader.unpack("Q")
    reader.finish()
    return ticks
