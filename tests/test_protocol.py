# SPDX-License-Identifier: Apache-2.0
"""The host side of the serial protocol, over pyserial's loop://, pseudo-terminals and local
sockets (no board): framing, deadlines on every wait, and targets that misbehave.

The firmware side of the same frames is checked against the real firmware in
test_firmware_qemu.py and test_protocol_robustness.py."""

import os
import random
import re
import select
import shutil
import socket
import struct
import sys
import threading
import time
import tty
import zlib
from pathlib import Path

import pytest

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness import protocol
from mcu_mobilenet.harness.client import HarnessClient, HarnessTimeout
from mcu_mobilenet.harness.emulators import EmulatorDied, _Process
from mcu_mobilenet.harness.transport import (
    LineClosed,
    LineStalled,
    SerialTransport,
    SocketTransport,
)
from mcu_mobilenet.paths import FIRMWARE_DIR
from mcu_mobilenet.tensor_info import TensorInfo

PROTOCOL_HEADER = FIRMWARE_DIR / "harness" / "mm_protocol.h"


@pytest.fixture
def loop():
    """pyserial's loop://: what the test writes, the client reads (its requests too)."""
    transport = SerialTransport("loop://")
    yield transport
    transport.close()


@pytest.fixture
def line():
    """(the host's transport, the board's end): a socket pair, for tests of exchanges."""
    host_end, board_end = socket.socketpair()
    yield SocketTransport(host_end, "the board"), board_end
    host_end.close()
    board_end.close()


def test_firmware_and_host_share_every_protocol_constant():
    """mm_protocol.h and protocol.py define the protocol twice; every value must agree."""
    defines = dict(
        re.findall(r"^#define MM_(\w+) (0x[0-9A-Fa-f]+|\d+)u\b", PROTOCOL_HEADER.read_text(), re.M)
    )
    host_names = {
        "PROTOCOL_VERSION": "PROTOCOL_VERSION",
        "FRAME_DELIMITER": "FRAME_DELIMITER",
        "HEADER_BYTES": "HEADER_BYTES",
        "CRC_BYTES": "CRC_BYTES",
        "SEQUENCE_NONE": "SEQUENCE_NONE",
        "ARGUMENT_BYTES": "ARGUMENT_BYTES",
        "LOAD_CHUNK_BYTES": "LOAD_CHUNK_BYTES",
        "REPLY_FLAG": "REPLY_FLAG",
        "REPLY_ERROR": "REPLY_ERROR",
        "REPLY_FAULT": "REPLY_FAULT",
        "REPLY_READY": "REPLY_READY",
    }
    host_names |= {name: name for name in defines if name.startswith(("CMD_", "ERR_"))}
    assert set(host_names) | {"MAGIC_0", "MAGIC_1"} == set(defines)
    for c_name, host_name in host_names.items():
        assert int(defines[c_name], 0) == getattr(protocol, host_name), c_name
    assert bytes([int(defines["MAGIC_0"], 0), int(defines["MAGIC_1"], 0)]) == protocol.MAGIC
    assert set(protocol.ERROR_NAMES) == {
        getattr(protocol, name) for name in defines if name.startswith("ERR_")
    }


def test_frame_layout_and_crc_are_zlibs():
    body = protocol.frame_body(0x02, b"\x01\x02\x03", sequence=7)
    assert body[:2] == b"MM"
    assert body[2:4] == bytes([0x02, 7])
    assert struct.unpack("<I", body[4:8]) == (3,)
    assert body[8:11] == b"\x01\x02\x03"
    assert struct.unpack("<I", body[11:]) == (zlib.crc32(body[2:11]),)
    assert protocol.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value
    frame = protocol.encode_frame(0x02, b"\x01\x02\x03", sequence=7)
    assert frame[0] == frame[-1] == 0 and 0 not in frame[1:-1]
    assert protocol.cobs_decode(frame[1:-1]) == body


@pytest.mark.parametrize("length", [0, 1, 2, 253, 254, 255, 508, 509, 1000])
def test_cobs_round_trips_and_never_emits_a_zero(length):
    rng = random.Random(length)
    for data in (
        bytes(length),
        rng.randbytes(length),
        bytes(rng.randint(1, 255) for _ in range(length)),
    ):
        encoded = protocol.cobs_encode(data)
        assert 0 not in encoded
        assert len(encoded) <= length + length // 254 + 1
        assert protocol.cobs_decode(encoded) == data


def test_a_cobs_block_cut_short_is_refused():
    encoded = protocol.cobs_encode(b"\x01\x02\x03\x04")
    with pytest.raises(protocol.MalformedFrame, match="cut short"):
        protocol.cobs_decode(encoded[:-2])


def test_requests_carry_the_argument_first():
    frame = protocol.encode_request(protocol.CMD_BENCH, 5, 7, b"\xaa\xbb")
    assert protocol.decode_frame(frame[1:-1]) == protocol.Frame(
        protocol.CMD_BENCH, 5, struct.pack("<I", 7) + b"\xaa\xbb"
    )
    assert protocol.encode_request(protocol.CMD_INFO, 3) == protocol.encode_frame(
        protocol.CMD_INFO, b"", 3
    )


def test_a_reply_split_into_single_bytes_is_read_whole(loop):
    payload = struct.pack("<QI", 123456, 512) + bytes([1, 0xFF])
    for byte in protocol.encode_frame(protocol.CMD_INFER | protocol.REPLY_FLAG, payload, 1):
        loop.write(bytes([byte]), 1.0)
    reply = protocol.parse_infer(HarnessClient(loop).read_frame(2.0), output_size=2)
    assert reply == protocol.InferReply(ticks=123456, stack_used=512, output=b"\x01\xff")


def _info_payload() -> bytes:
    def text(value: str) -> bytes:
        return bytes([len(value)]) + value.encode()

    def tensor(size, dims, scale, zero_point) -> bytes:
        packed = struct.pack("<IB", size, len(dims)) + struct.pack(f"<{len(dims)}I", *dims)
        return packed + struct.pack("<fi", scale, zero_point)

    return (
        bytes([protocol.PROTOCOL_VERSION])
        + text("qemu-mps2-an386") + text("0123456789ab") + text("model") + text("systick-icount")
        + struct.pack("<6Ii", 25_000_000, 1028, 36896, 0, 240856, 8192, 0)
        + tensor(9216, (1, 96, 96, 1), 0.5, -1) + tensor(2, (1, 2), 0.25, 3)
        + struct.pack("<H", 2) + text("CONV_2D") + text("SOFTMAX")
    )  # fmt: skip


INFO_REPLY = protocol.CMD_INFO | protocol.REPLY_FLAG


def test_info_reply_is_parsed(loop):
    loop.write(protocol.encode_frame(INFO_REPLY, _info_payload(), 1), 1.0)
    info = HarnessClient(loop, timeout_seconds=2.0).info()
    assert info.board == "qemu-mps2-an386"
    assert info.build_id == "0123456789ab"
    assert info.timer_hz == 25_000_000
    assert info.max_payload == 1028
    assert info.arena_bytes == 36896
    assert info.input == TensorInfo((1, 96, 96, 1), "int8", 0.5, -1)
    assert info.input.nbytes == 9216
    assert info.output.zero_point == 3
    assert info.layer_names == ("CONV_2D", "SOFTMAX")


def test_a_short_info_reply_is_a_protocol_error(loop):
    loop.write(protocol.encode_frame(INFO_REPLY, _info_payload()[:20], 1), 1.0)
    with pytest.raises(protocol.ProtocolError, match="too short"):
        HarnessClient(loop, timeout_seconds=2.0).info()


def test_another_protocol_version_is_refused_with_what_to_do(loop):
    payload = bytes([1]) + _info_payload()[1:]
    loop.write(protocol.encode_frame(INFO_REPLY, payload, 1), 1.0)
    with pytest.raises(protocol.ProtocolError, match="version 1, this host 2: rebuild"):
        HarnessClient(loop, timeout_seconds=2.0).info()


def test_stale_frames_are_skipped_until_the_reply_to_this_request(loop):
    """A READY, an error about an earlier frame and a reply to an earlier request come first:
    the client waits for the frame that carries its own sequence number."""
    client = HarnessClient(loop, timeout_seconds=2.0)
    loop.write(protocol.encode_frame(protocol.REPLY_READY, b"0123456789ab"), 1.0)
    loop.write(protocol.encode_frame(protocol.REPLY_ERROR, b"\x02frame ended early"), 1.0)
    loop.write(protocol.encode_frame(INFO_REPLY, b"stale", 200), 1.0)
    loop.write(b"\x00noise\x00", 1.0)
    loop.write(protocol.encode_frame(INFO_REPLY, _info_payload(), 1), 1.0)
    assert client.info().board == "qemu-mps2-an386"


def test_garbage_that_never_frames_times_out_saying_what_came(line):
    transport, board = line
    board.sendall(b"Hello from a bootloader\r\n")
    start = time.monotonic()
    with pytest.raises(HarnessTimeout) as timeout:
        HarnessClient(transport, timeout_seconds=0.5).exchange(protocol.CMD_INFO)
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 1.5
    message = str(timeout.value)
    assert re.search(r"no reply to INFO from the board within (0\.[5-9]|1\.[0-4]) s", message)
    assert "bytes that did not form a frame (48 65 6c 6c 6f" in message
    assert "\n" not in message


def test_a_delimited_frame_without_the_magic_is_garbage(loop):
    loop.write(b"\x00" + protocol.cobs_encode(b"AT+RESET\r\n") + b"\x00", 1.0)
    with pytest.raises(protocol.MalformedFrame, match="garbage on the serial line"):
        HarnessClient(loop).read_frame(2.0)


def test_a_corrupted_reply_to_this_request_fails_its_crc_at_once(loop):
    body = bytearray(protocol.frame_body(protocol.CMD_INFER | protocol.REPLY_FLAG, b"abcdef", 1))
    body[10] ^= 0x10
    loop.write(protocol.wrap_body(bytes(body)), 1.0)
    start = time.monotonic()
    with pytest.raises(protocol.MalformedFrame, match="bad CRC"):
        HarnessClient(loop, timeout_seconds=10.0).exchange(protocol.CMD_INFER, bytes(4))
    assert time.monotonic() - start < 2.0


def test_a_truncated_reply_times_out_quickly(line):
    transport, board = line
    board.sendall(protocol.encode_frame(protocol.CMD_INFER | protocol.REPLY_FLAG, b"abc", 1)[:9])
    start = time.monotonic()
    with pytest.raises(HarnessTimeout, match=r"within 0\.\d s; it sent 8 bytes that did not"):
        HarnessClient(transport, timeout_seconds=0.5).exchange(protocol.CMD_INFER, bytes(4))
    assert time.monotonic() - start < 2.0


def test_a_frame_whose_length_disagrees_with_its_bytes_is_malformed(loop):
    body = bytearray(protocol.frame_body(0x82, b"abcdef", 1))
    body[4:8] = struct.pack("<I", 0xFFFFFFF0)
    loop.write(protocol.wrap_body(bytes(body)), 1.0)
    with pytest.raises(protocol.MalformedFrame, match="announces 4294967280 payload bytes"):
        HarnessClient(loop).read_frame(2.0)


def test_an_endless_stream_without_delimiters_is_dropped_not_kept():
    splitter = protocol.FrameSplitter(max_frame_bytes=1000)
    for _ in range(50):
        assert splitter.feed(bytes(range(1, 101))) == []
    assert splitter.dropped_bytes >= 4000 and len(splitter.pending) <= 1000
    frame = protocol.encode_frame(protocol.REPLY_READY, b"id")
    assert splitter.feed(frame)[-1] == frame[1:-1]  # after the garbage it ends


def test_error_and_fault_frames_become_one_line_errors(loop):
    loop.write(protocol.encode_frame(protocol.REPLY_ERROR, b"\x04CRC mismatch", 1), 1.0)
    with pytest.raises(protocol.FirmwareError, match=r"error \(bad CRC\): CRC mismatch") as error:
        HarnessClient(loop).exchange(protocol.CMD_INFO)
    assert error.value.code == protocol.ERR_BAD_CRC
    registers = struct.pack(
        "<9I", 0x1234, 0x5678, 0x01000000, 0x10000, 0x40000000, 0, 0, 0x20001F80, 3
    )
    loop.write(protocol.encode_frame(protocol.REPLY_FAULT, registers, 9), 1.0)
    with pytest.raises(protocol.FirmwareFault, match="pc=0x00001234") as fault:
        HarnessClient(loop).exchange(protocol.CMD_INFO)  # a fault raises whatever its number
    assert "\n" not in str(fault.value)
    assert fault.value.registers["cfsr"] == 0x10000


def test_a_reply_to_another_request_is_refused(loop):
    loop.write(protocol.encode_frame(protocol.CMD_BENCH | protocol.REPLY_FLAG, bytes(32), 1), 1)
    with pytest.raises(protocol.ProtocolError, match="expected the reply to request 0x02"):
        protocol.parse_infer(HarnessClient(loop).read_frame(2.0), 2)


def test_a_closed_socket_is_reported():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def accept_and_close():
            connection, _ = server.accept()
            connection.close()

        thread = threading.Thread(target=accept_and_close)
        thread.start()
        transport = SerialTransport(f"socket://127.0.0.1:{port}")
        thread.join()
        with pytest.raises(LineClosed, match="closed"):
            HarnessClient(transport).read_frame(2.0)
        transport.close()


def test_a_missing_serial_port_is_a_user_error():
    with pytest.raises(UserError, match="cannot open serial port /dev/ttyMCUNOPE"):
        SerialTransport("/dev/ttyMCUNOPE")


class FakeTarget:
    """The board end of a pseudo-terminal, played by a thread: it writes `chatter()` every
    `interval` seconds and reads whatever the host sends (noting when the first byte came)."""

    def __init__(self, chatter, interval: float):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.first_request_at: float | None = None
        self.received = bytearray()
        self._chatter, self._interval = chatter, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_write = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.01)
            if ready:
                data = os.read(self.master, 4096)
                if data and self.first_request_at is None:
                    self.first_request_at = time.monotonic()
                self.received += data
            if time.monotonic() >= next_write:
                os.write(self.master, self._chatter())
                next_write += self._interval

    def __enter__(self) -> "FakeTarget":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self.master)
        os.close(self._slave)


def _garbage_byte() -> bytes:
    return bytes([random.randint(1, 255)])


def _ready_frame() -> bytes:
    return protocol.encode_frame(protocol.REPLY_READY, b"0123456789ab")


@pytest.mark.parametrize(
    ("chatter", "interval", "noise"),
    [
        (_garbage_byte, 0.05, "bytes that did not form a frame"),
        (_ready_frame, 0.2, "frames that answer no request of this wait (READY x"),
    ],
)
def test_synchronise_with_a_target_that_never_stops_talking_ends_on_time(chatter, interval, noise):
    with FakeTarget(chatter, interval) as target:
        transport = SerialTransport(target.path)
        client = HarnessClient(transport, timeout_seconds=2.0)
        start = time.monotonic()
        with pytest.raises(HarnessTimeout) as timeout:
            client.synchronise()
        elapsed = time.monotonic() - start
        transport.close()
    assert 2.0 <= elapsed < 3.0
    message = str(timeout.value)
    assert re.search(r"did not answer INFO within (2\.\d) s \(\d requests sent; it sent", message)
    assert noise in message and "\n" not in message
    assert target.received.count(b"\x00") >= 2 * 2  # INFO asked again every second


def test_synchronise_skips_a_chatty_boot_and_takes_the_answer():
    """A board that sent READY frames and garbage before answering is still found."""
    answered = threading.Event()

    def serve(connection: socket.socket) -> None:
        connection.sendall(_ready_frame() + b"garbage" + _ready_frame())
        splitter = protocol.FrameSplitter()
        while not answered.is_set():
            for encoded in splitter.feed(connection.recv(4096)):
                request = protocol.decode_frame(encoded)
                if request.frame_type == protocol.CMD_INFO:
                    reply = protocol.encode_frame(INFO_REPLY, _info_payload(), request.sequence)
                    connection.sendall(b"more garbage" + reply)
                    answered.set()

    host_end, board_end = socket.socketpair()
    thread = threading.Thread(target=serve, args=(board_end,))
    thread.start()
    try:
        info = HarnessClient(
            SocketTransport(host_end, "socketpair"), timeout_seconds=5
        ).synchronise()
    finally:
        thread.join()
        host_end.close()
        board_end.close()
    assert info.build_id == "0123456789ab"


def test_a_board_that_stops_reading_stalls_the_write_not_the_host():
    master, slave = os.openpty()  # nobody reads the master end
    tty.setraw(slave)
    try:
        transport = SerialTransport(os.ttyname(slave))
        start = time.monotonic()
        with pytest.raises(LineStalled, match=r"did not finish within 0\.5 s: the other end"):
            transport.write(bytes(1_000_000), 0.5)
        assert time.monotonic() - start < 1.5
        transport.close()
    finally:
        os.close(master)
        os.close(slave)


def test_random_streams_from_the_board_end_in_a_user_error_on_time():
    """Host-side fuzzing: 150 seeded streams of damaged frames, garbage, delimiters and
    silence. Each exchange ends with its reply or a one-line UserError, within its deadline
    plus the poll interval, never later and never with another exception."""
    rng = random.Random(1)
    outcomes = {"reply": 0, "error": 0}
    for case in range(150):
        host_end, board_end = socket.socketpair()
        stream = _random_board_stream(rng, sequence=1)
        board_end.sendall(stream)
        if rng.random() < 0.2:
            board_end.close()  # the line closes after the stream
        client = HarnessClient(SocketTransport(host_end, "fuzzed board"), timeout_seconds=0.1)
        start = time.monotonic()
        try:
            client.exchange(protocol.CMD_INFO)
            outcomes["reply"] += 1
        except UserError as error:
            assert "\n" not in str(error), case
            outcomes["error"] += 1
        assert time.monotonic() - start < 0.1 + 0.5, case
        host_end.close()
        board_end.close()
    assert outcomes["reply"] > 10 and outcomes["error"] > 50, outcomes


def _random_board_stream(rng: random.Random, sequence: int) -> bytes:
    pieces = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["reply", "garbage", "flip", "cut", "length", "stale", "zeros"])
        body = protocol.frame_body(INFO_REPLY, rng.randbytes(rng.randint(0, 40)), sequence)
        if kind == "garbage":
            pieces.append(rng.randbytes(rng.randint(1, 200)))
        elif kind == "flip":
            damaged = bytearray(body)
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            pieces.append(protocol.wrap_body(bytes(damaged)))
        elif kind == "cut":
            pieces.append(protocol.wrap_body(body)[: rng.randint(1, len(body))])
        elif kind == "length":
            damaged = bytearray(body)
            damaged[4:8] = struct.pack("<I", rng.randrange(2**32))
            pieces.append(protocol.wrap_body(bytes(damaged)))
        elif kind == "stale":
            pieces.append(protocol.encode_frame(INFO_REPLY, b"", sequence + 1))
        elif kind == "zeros":
            pieces.append(bytes(rng.randint(1, 5)))
        else:
            pieces.append(protocol.wrap_body(body))
    return b"".join(pieces)


def test_a_dead_emulator_is_named_with_its_last_words():
    command = [sys.executable, "-c", "print('qemu: could not load kernel'); raise SystemExit(1)"]
    process = _Process("QEMU (test)", command)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                process.check_alive()
            except EmulatorDied as died:
                assert "exited with status 1" in str(died)
                assert "could not load kernel" in str(died)
                return
            time.sleep(0.05)
        pytest.fail("the process did not exit")
    finally:
        process.end()


def test_a_hanging_emulator_is_ended():
    process = _Process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    popen = process._process
    process.end()
    assert popen.poll() is not None


def _c_constants(path: Path, pattern: str) -> dict[str, int]:
    """The integer #defines of a C file whose names match `pattern` (group 1: the name)."""
    defines = re.findall(rf"^#define ({pattern}) (0x[0-9A-Fa-f]+|\d+)u\b", path.read_text(), re.M)
    return {name: int(value, 0) for name, value in defines}


def test_every_protocol_constant_of_the_firmware_header_is_the_hosts():
    header = _c_constants(FIRMWARE_DIR / "harness" / "mm_protocol.h", r"MM_\w+")
    assert len(header) >= 20  # the regular expression reads the header
    magic = bytes([header.pop("MM_MAGIC_0"), header.pop("MM_MAGIC_1")])
    assert magic == protocol.MAGIC
    for name, value in header.items():
        python_name = name.removeprefix("MM_")
        assert getattr(protocol, python_name, None) == value, f"{name} in mm_protocol.h"
    host = {
        name: getattr(protocol, name)
        for name in dir(protocol)
        if re.fullmatch(r"(CMD|REPLY|ERR)_\w+", name)
    }
    assert {f"MM_{name}" for name in host} <= set(header), "a host constant the firmware lacks"
    errors = {value for name, value in host.items() if name.startswith("ERR_")}
    assert errors == set(protocol.ERROR_NAMES)


def test_the_bench_run_limit_is_the_firmwares():
    main = _c_constants(FIRMWARE_DIR / "harness" / "main.c", r"MAX_BENCH_RUNS")
    assert main == {"MAX_BENCH_RUNS": protocol.MAX_BENCH_RUNS}


def test_a_tensor_whose_size_is_not_int8_or_float32_is_a_protocol_error(loop):
    payload = _info_payload().replace(struct.pack("<IB", 9216, 4), struct.pack("<IB", 9217, 4), 1)
    loop.write(protocol.encode_frame(protocol.CMD_INFO | protocol.REPLY_FLAG, payload, 1), 1.0)
    with pytest.raises(protocol.ProtocolError, match="neither int8 nor float32"):
        HarnessClient(loop, timeout_seconds=2.0).info()


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("chatter, interval", [(_garbage_byte, 0.05), (_ready_frame, 0.2)])
def test_run_on_a_port_that_never_stops_talking_ends_within_its_timeout(
    chatter, interval, run_cli, person_detect
):
    """`run --port ... --timeout 5` against a fake target: one line, exit 2, and at most the
    timeout plus 1 s after the host first speaks to the port (the build comes before)."""
    with FakeTarget(chatter, interval) as target:
        code, _, err = run_cli(
            "run", person_detect, "--port", target.path, "--timeout", "5", "--backend", "portable"
        )
        ended = time.monotonic()
    assert code == 2
    assert target.first_request_at is not None
    assert ended - target.first_request_at <= 5 + 1
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err
    assert re.search(rf"{target.path} did not answer INFO within 5\.\d s \(\d requests", lines[0])
