# SPDX-License-Identifier: Apache-2.0
"""The framed serial protocol spoken by firmware/harness (firmware/harness/mm_protocol.h).

A frame, both directions: a zero byte, the COBS encoding of its body, a zero byte. The body,
little-endian: b"MM" | type (u8) | sequence (u8) | payload length (u32) | payload | CRC-32
(zlib) of type, sequence, length and payload. A zero byte is always a frame boundary, so a
frame cut short ends where the next one starts: neither side needs a timeout to find frames.
The host numbers its requests; the reply carries the request's number. This module only
encodes and decodes; `HarnessClient` in client.py does the conversation.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.tensor_info import TensorInfo, byte_count

MAGIC = b"MM"
FRAME_DELIMITER = 0x00
HEADER_BYTES = 8  # magic, type, sequence, payload length
CRC_BYTES = 4
PROTOCOL_VERSION = 2
SEQUENCE_NONE = 0  # READY, and errors about frames too damaged to have a sequence number
MAX_BENCH_RUNS = 101  # the most runs one BENCH request may ask for

CMD_INFO = 0x01
CMD_INFER = 0x02
CMD_BENCH = 0x03
CMD_PROFILE = 0x04
CMD_CALIBRATE = 0x05  # times a loop of exactly 2 x argument instructions
CMD_LOAD = 0x06  # input bytes at an offset of the model's input slot
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
    9: "input not loaded",
}
ERR_BAD_SYNC, ERR_TRUNCATED, ERR_TOO_LONG, ERR_BAD_CRC = 1, 2, 3, 4
ERR_BAD_COMMAND, ERR_BAD_LENGTH, ERR_BAD_ARGUMENT, ERR_MODEL, ERR_NO_INPUT = 5, 6, 7, 8, 9

TENSOR_DTYPES = ("int8", "float32")  # the element types a model input or output can have
ARGUMENT_BYTES = 4  # every request payload starts with it (BENCH: runs; LOAD: the offset)
LOAD_CHUNK_BYTES = 1024  # largest LOAD; the firmware's MM_MAX_PAYLOAD is 4 more

# Largest reply the host accepts: guards against collecting an endless stream as one frame.
MAX_REPLY_PAYLOAD = 16 * 1024 * 1024
_COBS_BLOCK = 254  # data bytes in a full COBS block, whose code byte is 0xFF


class ProtocolError(UserError):
    """The bytes from the board do not form a valid frame."""


class MalformedFrame(ProtocolError):
    """Bytes between two frame delimiters that are not a valid frame. `frame_type` and
    `sequence` are what its header claims, or None where it did not get that far."""

    def __init__(self, message: str, frame_type: int | None = None, sequence: int | None = None):
        super().__init__(message)
        self.frame_type = frame_type
        self.sequence = sequence


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


def cobs_encode(data: bytes) -> bytes:
    """Consistent overhead byte stuffing: the same bytes with no zero among them."""
    encoded = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            encoded += bytes([len(block) + 1]) + block
            block.clear()
            continue
        block.append(byte)
        if len(block) == _COBS_BLOCK:
            encoded += b"\xff" + block
            block.clear()
    return bytes(encoded + bytes([len(block) + 1]) + block)


def cobs_decode(encoded: bytes) -> bytes:
    """The inverse of cobs_encode; raises MalformedFrame if a block is cut short."""
    if FRAME_DELIMITER in encoded:
        raise MalformedFrame("a COBS-encoded frame holds a zero byte")
    decoded = bytearray()
    position = 0
    while position < len(encoded):
        code = encoded[position]
        block = encoded[position + 1 : position + code]
        if len(block) != code - 1:
            raise MalformedFrame(
                f"frame cut short: its last block lacks {code - 1 - len(block)} bytes"
            )
        decoded += block
        position += code
        if code != 0xFF and position < len(encoded):
            decoded.append(0)
    return bytes(decoded)


def frame_body(frame_type: int, payload: bytes = b"", sequence: int = SEQUENCE_NONE) -> bytes:
    """A frame before COBS encoding: magic, header, payload, CRC."""
    header = struct.pack("<BBI", frame_type, sequence, len(payload))
    return MAGIC + header + payload + struct.pack("<I", crc32(header + payload))


def wrap_body(body: bytes) -> bytes:
    """What goes on the line for a frame body: delimiter, COBS encoding, delimiter."""
    return bytes([FRAME_DELIMITER]) + cobs_encode(body) + bytes([FRAME_DELIMITER])


def encode_frame(frame_type: int, payload: bytes = b"", sequence: int = SEQUENCE_NONE) -> bytes:
    return wrap_body(frame_body(frame_type, payload, sequence))


def encode_request(
    command: int, sequence: int, argument: int | None = None, data: bytes = b""
) -> bytes:
    """Requests with a payload carry a 4-byte argument first (BENCH: runs; LOAD: offset)."""
    if argument is None and not data:
        return encode_frame(command, b"", sequence)
    return encode_frame(command, struct.pack("<I", argument or 0) + data, sequence)


@dataclass(frozen=True)
class Frame:
    frame_type: int
    sequence: int
    payload: bytes


def decode_frame(encoded: bytes) -> Frame:
    """One frame from the bytes between two delimiters; raises MalformedFrame."""
    body = cobs_decode(encoded)
    if body[:2] != MAGIC:
        raise MalformedFrame(
            f"garbage on the serial line: a frame that does not start with 'MM' "
            f"({body[:16].hex(' ')})"
        )
    if len(body) < HEADER_BYTES + CRC_BYTES:
        raise MalformedFrame(f"a frame of {len(body)} bytes, shorter than any frame")
    frame_type, sequence, length = struct.unpack("<BBI", body[2:HEADER_BYTES])
    payload = body[HEADER_BYTES:-CRC_BYTES]
    if len(payload) != length:
        raise MalformedFrame(
            f"frame of type 0x{frame_type:02x} announces {length} payload bytes and holds "
            f"{len(payload)}",
            frame_type,
            sequence,
        )
    (received,) = struct.unpack("<I", body[-CRC_BYTES:])
    if received != crc32(body[2:-CRC_BYTES]):
        raise MalformedFrame(
            f"reply frame of type 0x{frame_type:02x} has a bad CRC: the serial line "
            "corrupted it (check the baud rate and cable)",
            frame_type,
            sequence,
        )
    return Frame(frame_type, sequence, payload)


class FrameSplitter:
    """Cuts a byte stream at frame delimiters. Bytes that pile up beyond the largest frame
    without a delimiter are dropped and counted: a stream that never frames is garbage."""

    def __init__(self, max_frame_bytes: int = 2 * MAX_REPLY_PAYLOAD):
        self.max_frame_bytes = max_frame_bytes
        self.dropped_bytes = 0
        self._pending = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes received since the last delimiter."""
        return bytes(self._pending)

    def feed(self, data: bytes) -> list[bytes]:
        """The encoded frames that `data` completes (empty ones left out)."""
        *ends, rest = data.split(bytes([FRAME_DELIMITER]))
        complete = []
        if ends:
            complete = [bytes(self._pending) + ends[0], *ends[1:]]
            self._pending = bytearray()
        self._pending += rest
        if len(self._pending) > self.max_frame_bytes:
            self.dropped_bytes += len(self._pending)
            self._pending.clear()
        return [frame for frame in complete if frame]


@dataclass(frozen=True)
class InfoReply:
    protocol_version: int
    board: str
    build_id: str
    model_prefix: str
    timer_kind: str
    timer_hz: int
    max_payload: int
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
    numbers = reader.unpack("6Ii")
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


def parse_load(frame: Frame) -> int:
    """The input bytes loaded so far."""
    reader = expect_reply(frame, CMD_LOAD)
    (loaded,) = reader.unpack("I")
    reader.finish()
    return loaded


def parse_calibrate(frame: Frame) -> int:
    reader = expect_reply(frame, CMD_CALIBRATE)
    (ticks,) = reader.unpack("Q")
    reader.finish()
    return ticks
