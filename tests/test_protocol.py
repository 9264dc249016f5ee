# SPDX-License-Identifier: Apache-2.0
"""The host side of the serial protocol, over pyserial's loop:// and local sockets (no board).

The firmware side of the same frames is checked against the real firmware in
test_firmware_qemu.py."""

import re
import socket
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness import protocol
from mcu_mobilenet.harness.client import HarnessClient, HarnessTimeout
from mcu_mobilenet.harness.emulators import EmulatorDied, _Process
from mcu_mobilenet.harness.transport import LineClosed, SerialTransport
from mcu_mobilenet.paths import FIRMWARE_DIR
from mcu_mobilenet.tensor_info import TensorInfo


@pytest.fixture
def loop():
    transport = SerialTransport("loop://")
    yield transport
    transport.close()


def test_frame_layout_and_crc_are_zlibs():
    frame = protocol.encode_frame(0x02, b"\x01\x02\x03")
    assert frame[:2] == b"MM"
    assert frame[2] == 0x02
    assert struct.unpack("<I", frame[3:7]) == (3,)
    assert frame[7:10] == b"\x01\x02\x03"
    assert struct.unpack("<I", frame[10:]) == (zlib.crc32(frame[2:10]),)
    assert protocol.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value


def test_requests_with_an_input_carry_the_argument_first():
    frame = protocol.encode_request(protocol.CMD_BENCH, 7, b"\xaa\xbb")
    assert frame[7:13] == struct.pack("<I", 7) + b"\xaa\xbb"
    assert protocol.encode_request(protocol.CMD_INFO) == protocol.encode_frame(protocol.CMD_INFO)


def test_a_reply_split_into_single_bytes_is_read_whole(loop):
    payload = struct.pack("<QI", 123456, 512) + bytes([1, 0xFF])
    for byte in protocol.encode_frame(protocol.CMD_INFER | protocol.REPLY_FLAG, payload):
        loop.write(bytes([byte]))
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
        + struct.pack("<7Ii", 25_000_000, 9220, 50, 36896, 0, 240856, 8192, 0)
        + tensor(9216, (1, 96, 96, 1), 0.5, -1) + tensor(2, (1, 2), 0.25, 3)
        + struct.pack("<H", 2) + text("CONV_2D") + text("SOFTMAX")
    )  # fmt: skip


def test_info_reply_is_parsed(loop):
    loop.write(protocol.encode_frame(protocol.CMD_INFO | protocol.REPLY_FLAG, _info_payload()))
    info = HarnessClient(loop, timeout_seconds=2.0).info()
    assert info.board == "qemu-mps2-an386"
    assert info.build_id == "0123456789ab"
    assert info.timer_hz == 25_000_000
    assert info.arena_bytes == 36896
    assert info.input == TensorInfo((1, 96, 96, 1), "int8", 0.5, -1)
    assert info.input.nbytes == 9216
    assert info.output.zero_point == 3
    assert info.layer_names == ("CONV_2D", "SOFTMAX")


def test_a_short_info_reply_is_a_protocol_error(loop):
    loop.write(protocol.encode_frame(protocol.CMD_INFO | protocol.REPLY_FLAG, _info_payload()[:20]))
    with pytest.raises(protocol.ProtocolError, match="too short"):
        HarnessClient(loop, timeout_seconds=2.0).info()


def test_garbage_on_the_line_is_a_clear_error(loop):
    loop.write(b"Hello from a bootloader\r\n")
    with pytest.raises(protocol.ProtocolError, match="garbage on the serial line"):
        HarnessClient(loop).read_frame(2.0)


def test_a_corrupted_reply_fails_its_crc(loop):
    frame = bytearray(protocol.encode_frame(protocol.CMD_INFER | protocol.REPLY_FLAG, b"abcdef"))
    frame[9] ^= 0x10
    loop.write(bytes(frame))
    with pytest.raises(protocol.ProtocolError, match="bad CRC"):
        HarnessClient(loop).read_frame(2.0)


def test_a_truncated_reply_times_out_quickly(loop):
    loop.write(protocol.encode_frame(protocol.CMD_INFER | protocol.REPLY_FLAG, b"abcdef")[:9])
    start = time.monotonic()
    with pytest.raises(HarnessTimeout, match="2 of 6 bytes of the reply payload"):
        HarnessClient(loop, timeout_seconds=0.5).read_frame()
    assert time.monotonic() - start < 2.0


def test_error_and_fault_frames_become_one_line_errors(loop):
    loop.write(protocol.encode_frame(protocol.REPLY_ERROR, b"\x04CRC mismatch"))
    with pytest.raises(protocol.FirmwareError, match=r"error \(bad CRC\): CRC mismatch") as error:
        protocol.raise_for_error(HarnessClient(loop).read_frame(2.0))
    assert error.value.code == protocol.ERR_BAD_CRC
    registers = struct.pack(
        "<9I", 0x1234, 0x5678, 0x01000000, 0x10000, 0x40000000, 0, 0, 0x20001F80, 3
    )
    loop.write(protocol.encode_frame(protocol.REPLY_FAULT, registers))
    with pytest.raises(protocol.FirmwareFault, match="pc=0x00001234") as fault:
        protocol.raise_for_error(HarnessClient(loop).read_frame(2.0))
    assert "\n" not in str(fault.value)
    assert fault.value.registers["cfsr"] == 0x10000


def test_a_reply_to_another_request_is_refused(loop):
    loop.write(protocol.encode_frame(protocol.CMD_BENCH | protocol.REPLY_FLAG, bytes(32)))
    with pytest.raises(protocol.ProtocolError, match="expected the reply to request 0x02"):
        protocol.parse_infer(HarnessClient(loop).read_frame(2.0), 2)


def test_an_absurd_reply_length_is_refused_at_once(loop):
    loop.write(b"MM\x82" + struct.pack("<I", 0xFFFFFFF0))
    with pytest.raises(protocol.ProtocolError, match="line is corrupted"):
        HarnessClient(loop).read_frame(2.0)


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
    loop.write(protocol.encode_frame(protocol.CMD_INFO | protocol.REPLY_FLAG, payload))
    with pytest.raises(protocol.ProtocolError, match="neither int8 nor float32"):
        HarnessClient(loop, timeout_seconds=2.0).info()
