# SPDX-License-Identifier: Apache-2.0
"""The harness firmware in QEMU: protocol robustness, time conversion, bit-exact models.

Everything here runs the real firmware on every QEMU board the project defines, compiled
with the real compiler, and compares with the TFLM reference interpreter."""

import json
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import tflite_builders as build
from PIL import Image

from mcu_mobilenet.boards import list_boards, load_board
from mcu_mobilenet.harness import protocol
from mcu_mobilenet.harness.client import HarnessTimeout
from mcu_mobilenet.harness.emulators import EmulatorDied, run_qemu
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.keras_builder import build_mobilenet
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.firmware import ModelSources, build_firmware
from mcu_mobilenet.workflow.validation import validate_on_board

QEMU_BOARDS = [board.name for board in list_boards() if board.emulator == "qemu"]
PERSON_OUTPUT = [-113, 113]  # TFLM's output for person.bmp (../shared/models/README.md)

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="qemu-system-arm or arm-none-eabi-gcc not installed",
)


@pytest.fixture(scope="module")
def person_image(shared_models) -> bytes:

    return np.asarray(Image.open(shared_models / "person.bmp")).tobytes()


@pytest.fixture(scope="module")
def person_firmware(shared_models, tmp_path_factory):
    """Builds person_detect's firmware for a board once per module."""

    root = tmp_path_factory.mktemp("person-firmware")
    result = compile_model(
        shared_models / "person_detect.tflite", root / "model", "model", force=True
    )
    sources = ModelSources(tuple(result.sources), tuple(result.include_dirs), result.prefix)
    built = {}

    def build(board_name: str):
        if board_name not in built:
            built[board_name] = build_firmware(load_board(board_name), sources, root / board_name)
        return built[board_name]

    return build


@pytest.fixture(scope="module")
def an386(person_firmware):
    """One QEMU running person_detect on the default board, shared by the robustness tests."""
    firmware = person_firmware("qemu-mps2-an386")
    with run_qemu(firmware.board, firmware.elf, timeout_seconds=30) as client:
        yield client


def _expect_error(client, code: int) -> None:
    frame = client.read_frame(20)
    assert frame.frame_type == protocol.REPLY_ERROR, frame
    assert frame.payload[0] == code, frame.payload


def _still_serves(client, person_image: bytes) -> None:
    reply = client.infer(person_image)
    assert list(np.frombuffer(reply.output, dtype=np.int8)) == PERSON_OUTPUT


def _load_body(data: bytes, offset: int = 0, sequence: int = 200) -> bytes:
    return protocol.frame_body(protocol.CMD_LOAD, struct.pack("<I", offset) + data, sequence)


def test_info_describes_the_model_and_build(an386, person_firmware):
    info = an386.info()
    assert info.protocol_version == 2
    assert info.board == "qemu-mps2-an386"
    assert info.build_id == person_firmware("qemu-mps2-an386").build_id
    assert info.input.shape == (1, 96, 96, 1)
    assert info.input.zero_point == -1
    assert info.input.scale == pytest.approx(2 / 255)
    assert info.output.nbytes == 2
    assert info.max_payload == protocol.ARGUMENT_BYTES + protocol.LOAD_CHUNK_BYTES
    assert info.timer_kind == "systick-icount"
    assert info.layer_names[-1] == "SOFTMAX"


def test_corrupted_frame_gets_a_crc_error_with_its_sequence(an386, person_image):
    body = bytearray(_load_body(person_image[:1000], sequence=77))
    body[100] ^= 0x01
    an386.transport.write(protocol.wrap_body(bytes(body)), 5)
    frame = an386.read_frame(20)
    assert (frame.frame_type, frame.sequence, frame.payload[0]) == (
        protocol.REPLY_ERROR, 77, protocol.ERR_BAD_CRC
    )  # fmt: skip
    _still_serves(an386, person_image)


def test_a_frame_cut_short_is_reported_when_the_next_one_starts(an386, person_image):
    """No timeout in the firmware: the cut frame ends at the next frame's delimiter."""
    cut = protocol.wrap_body(_load_body(person_image[:1000]))[:600]
    an386.transport.write(cut, 5)
    time.sleep(0.5)  # however long the line stays idle, nothing is lost or answered
    an386.transport.write(bytes([protocol.FRAME_DELIMITER]), 5)
    _expect_error(an386, protocol.ERR_TRUNCATED)
    _still_serves(an386, person_image)


def test_oversized_frame_is_refused_from_its_header(an386, person_image):
    too_long = an386.info().max_payload + 1
    body = b"MM" + struct.pack("<BBI", protocol.CMD_LOAD, 9, too_long) + bytes(3000)
    an386.transport.write(protocol.wrap_body(body), 5)
    _expect_error(an386, protocol.ERR_TOO_LONG)
    _still_serves(an386, person_image)


def test_length_field_larger_than_the_frame_is_a_truncation(an386, person_image):
    body = bytearray(protocol.frame_body(protocol.CMD_INFO, b"", 5))
    body[4:8] = struct.pack("<I", 8)  # 8 payload bytes announced, none sent
    an386.transport.write(protocol.wrap_body(bytes(body)), 5)
    _expect_error(an386, protocol.ERR_TRUNCATED)
    _still_serves(an386, person_image)


def test_length_field_smaller_than_the_frame_is_refused(an386, person_image):
    body = bytearray(_load_body(person_image[:1000]))
    body[4:8] = struct.pack("<I", 500)
    an386.transport.write(protocol.wrap_body(bytes(body)), 5)
    _expect_error(an386, protocol.ERR_BAD_LENGTH)
    _still_serves(an386, person_image)


def test_loads_out_of_order_or_past_the_input_are_refused(an386, person_image):
    an386.transport.write(protocol.wrap_body(_load_body(person_image[:100], offset=500)), 5)
    _expect_error(an386, protocol.ERR_BAD_ARGUMENT)
    an386.transport.write(protocol.wrap_body(_load_body(bytes(10), offset=9210)), 5)
    _expect_error(an386, protocol.ERR_BAD_ARGUMENT)
    _still_serves(an386, person_image)


def test_inference_needs_the_whole_input_loaded_again(an386, person_image):
    an386.infer(person_image)
    infer = protocol.encode_request(protocol.CMD_INFER, 31, 0)
    an386.transport.write(infer, 5)  # the last inference used the input up
    _expect_error(an386, protocol.ERR_NO_INPUT)
    an386.transport.write(protocol.wrap_body(_load_body(person_image[:1024])), 5)
    assert protocol.parse_load(an386.read_frame(20)) == 1024
    an386.transport.write(infer, 5)  # a part is not enough
    _expect_error(an386, protocol.ERR_NO_INPUT)
    _still_serves(an386, person_image)


def test_garbage_bytes_get_a_sync_error(an386, person_image):
    an386.transport.write(b"\x00\xffAT+RESET\r\nMX\x00", 5)
    _expect_error(an386, protocol.ERR_BAD_SYNC)
    _still_serves(an386, person_image)


def test_unknown_command_and_bad_argument_are_refused(an386, person_image):
    an386.transport.write(protocol.encode_frame(0x42, b"", 3), 5)
    _expect_error(an386, protocol.ERR_BAD_COMMAND)
    with pytest.raises(protocol.FirmwareError, match="BENCH runs must be 1 to 101"):
        an386.bench(person_image, 0)
    _still_serves(an386, person_image)


def test_bytes_arriving_slowly_are_still_one_frame(an386, person_image):
    frame = protocol.wrap_body(_load_body(person_image[:1024], sequence=90))
    for index in range(0, 64, 4):  # the header and the first input bytes, 4 at a time
        an386.transport.write(frame[index : index + 4], 5)
        time.sleep(0.05)
    an386.transport.write(frame[64:], 5)
    reply = an386.read_frame(20)
    assert (reply.sequence, protocol.parse_load(reply)) == (90, 1024)


def test_bench_and_profile_replies_are_consistent(an386, person_image):
    bench = an386.bench(person_image, 3)
    assert bench.runs == 3
    assert 0 < bench.min_ticks <= bench.median_ticks <= bench.max_ticks
    profile = an386.profile(person_image)
    assert len(profile.layer_ticks) == len(an386.info().layer_names)
    # Layer times add up to the inference, less the input copy check and the timer reads.
    assert 0.98 * profile.ticks <= sum(profile.layer_ticks) <= profile.ticks
    assert 0 < profile.stack_used < an386.info().stack_bytes


def test_a_no_reply_wait_times_out_with_a_clear_message(an386):

    with pytest.raises(
        HarnessTimeout, match=r"no frame from QEMU .* within 0\.5 s; it sent nothing"
    ):
        an386.read_frame(0.5)


def test_a_hardfault_is_reported_over_the_uart(person_firmware):
    firmware = person_firmware("qemu-mps2-an386")
    with run_qemu(firmware.board, firmware.elf, timeout_seconds=20) as client:
        with pytest.raises(protocol.FirmwareFault, match="crashed with a fault") as fault:
            client.exchange(protocol.CMD_CRASH)
    assert fault.value.registers["cfsr"] & (1 << 16)  # UNDEFINSTR: the udf instruction
    assert fault.value.registers["hfsr"] & (1 << 30)  # escalated to HardFault


def test_a_dead_emulator_gives_a_one_line_error(tmp_path):
    not_firmware = tmp_path / "firmware.elf"
    not_firmware.write_bytes(b"\x00" * 64)
    with pytest.raises(EmulatorDied, match="QEMU .* exited with status") as died:
        with run_qemu(load_board("qemu-mps2-an386"), not_firmware, timeout_seconds=10):
            pass
    assert "\n" not in str(died.value)


@pytest.mark.parametrize("board_name", QEMU_BOARDS)
def test_systick_conversion_counts_a_known_loop_exactly(board_name, person_firmware):
    """CALIBRATE runs `subs; bne` N times: 2N instructions. QEMU's -icount shift=0 makes an
    instruction 1 ns; the SysTick clock of each machine turns ticks into ns. 60 M iterations
    cross a SysTick wrap on every board (2^24 ticks)."""
    firmware = person_firmware(board_name)
    board = firmware.board
    resolution = -(-1_000_000_000 // board.timer.clock_hz)  # instructions per tick, rounded up
    timer_reads = 64  # the two timer reads around the loop
    with run_qemu(board, firmware.elf, timeout_seconds=60) as client:
        for iterations in (1_000, 1_000_000, 60_000_000):
            measured = board.ticks_to_time(client.calibrate(iterations))
            assert abs(measured - 2 * iterations) <= resolution + timer_reads, iterations


@pytest.mark.slow
@pytest.mark.parametrize("board_name", QEMU_BOARDS)
def test_person_detect_is_bit_exact_on_every_qemu_board(board_name, shared_models):

    images = [shared_models / "person.bmp", shared_models / "no_person.bmp"]
    report = validate_on_board(
        shared_models / "person_detect.tflite",
        board_name,
        inputs=1,
        images=images,
        pixel_format="raw",
    )
    assert report.passed, report.mismatches
    assert report.bit_exact == 3
    person, no_person = report.outputs[1], report.outputs[2]
    assert person["output"] == person["reference"] == PERSON_OUTPUT
    assert no_person["output"] == no_person["reference"] == [57, -57]
    assert person["time_unit"] == "instructions" and person["time"] > 1_000_000


def _project_mobilenet(folder: Path) -> Path:
    """A MobileNetV1 (alpha 0.25, 32x32 RGB, 4 classes) built by the project. Untrained, so
    its classifier is widened and given spread biases: the softmax input then has a realistic
    range, without which TFLM aborts (pitfalls.md)."""
    import tensorflow as tf

    keras_model = build_mobilenet(
        MobileNetConfig(alpha=0.25, resolution=32, channels=3, classes=4), batch_size=1
    )
    rng = np.random.default_rng(0)
    dense = next(layer for layer in keras_model.layers if isinstance(layer, tf.keras.layers.Dense))
    kernel, _ = dense.get_weights()
    dense.set_weights([kernel * 40.0, np.array([-1.5, -0.5, 0.5, 1.5], dtype=np.float32)])

    def representative():
        for _ in range(8):
            yield [rng.uniform(-1, 1, size=(1, 32, 32, 3)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path = folder / "mobilenet_0.25_32.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.mark.slow
def test_a_project_mobilenet_is_bit_exact_on_every_qemu_board(tmp_path):
    """One test for all boards, so the model is converted once."""

    model = _project_mobilenet(tmp_path)
    for board_name in QEMU_BOARDS:
        report = validate_on_board(model, board_name, inputs=3, seed=7)
        assert report.passed, (board_name, report.mismatches)
        assert report.bit_exact == 3


def test_bench_json_has_the_documented_integer_keys(run_cli, shared_models):

    code, out, _ = run_cli(
        "bench", shared_models / "person_detect.tflite", "--runs", "3", "--json", "--no-tflm"
    )
    assert code == 0
    report = json.loads(out)
    for key in ("time_per_inference", "flash_bytes", "ram_bytes", "arena_bytes", "macs"):
        assert isinstance(report[key], int) and report[key] > 0, key
    assert report["time_unit"] == "instructions"
    assert report["macs"] == 7_157_888  # person_detect's mult-adds
    assert report["flash_bytes"] > report["memory"]["flash_weights"] > 200_000


def test_run_and_profile_commands_classify_the_shared_images(run_cli, shared_models):

    images = ["--image", shared_models / "person.bmp", "--image", shared_models / "no_person.bmp"]
    code, out, _ = run_cli(
        "run", shared_models / "person_detect.tflite", *images, "--pixels", "raw", "--json"
    )
    assert code == 0
    assert [r["top_class"] for r in json.loads(out)["results"]] == [1, 0]
    code, out, _ = run_cli(
        "profile", shared_models / "person_detect.tflite", "--board", "qemu-mps3-an547",
        "--image", shared_models / "person.bmp", "--pixels", "raw",
    )  # fmt: skip
    assert code == 0
    assert "DEPTHWISE_CONV_2D" in out and "SOFTMAX" in out and "instructions" in out


def test_a_float_input_and_output_model_is_bit_exact_on_the_m4(tmp_path):
    """float32 at both edges (QUANTIZE first, DEQUANTIZE last): the harness moves the tensors'
    bytes whatever their type, and the float outputs equal TFLM's byte for byte."""
    rng = np.random.default_rng(9)
    model = build.conv2d(rng, 3, 4, (3, 3), 2, "SAME", 1, "RELU6")
    path = build.convert(model, (1, 9, 9, 3), tmp_path / "float.tflite", rng, int8_io=False)
    report = validate_on_board(path, "qemu-mps2-an386", backend="portable", inputs=3, seed=5)
    assert report.passed, report.mismatches
    assert report.bit_exact == 3
    output = report.outputs[0]["output"]
    assert len(output) == 5 * 5 * 4 and all(isinstance(value, float) for value in output)
    assert len(set(output)) > 4  # real values, not a constant
