# SPDX-License-Identifier: Apache-2.0
"""The serial protocol against the real firmware in QEMU, as a hostile line would treat it:
fuzzed frames, and a large input while the host is loaded.

`make test` runs small counts; `make fuzz-protocol` the full ones (1,000 frames, 20 transfers),
through MM_PROTOCOL_FUZZ_FRAMES and MM_LOADED_TRANSFERS."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tflite_builders as build

from mcu_mobilenet import oracle
from mcu_mobilenet.boards import load_board
from mcu_mobilenet.harness.emulators import run_qemu
from mcu_mobilenet.workflow.firmware import build_for_model
from mcu_mobilenet.workflow.inputs import random_inputs
from mcu_mobilenet.workflow.protocol_fuzz import KIND_WEIGHTS, fuzz_firmware

FUZZ_FRAMES = int(os.environ.get("MM_PROTOCOL_FUZZ_FRAMES", "150"))
LOADED_TRANSFERS = int(os.environ.get("MM_LOADED_TRANSFERS", "1"))
BUSY_LOOPS = 2

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="qemu-system-arm or arm-none-eabi-gcc not installed",
)


def test_malformed_frames_get_their_errors_and_never_hang_the_firmware(person_detect):
    report = fuzz_firmware(person_detect, frames=FUZZ_FRAMES, seed=FUZZ_FRAMES)
    print("\n" + report.summary())
    assert report.passed, report.summary()
    assert report.frames == FUZZ_FRAMES
    assert report.alive_checks == FUZZ_FRAMES  # INFO answered after every frame
    assert report.inferences == FUZZ_FRAMES // 50
    assert set(report.by_kind) == set(KIND_WEIGHTS)
    assert report.reconnects == report.by_kind["closed"]


@pytest.mark.slow
def test_a_150_kb_input_survives_a_loaded_host(tmp_path):
    """MobileNetV2's 224x224x3 input (150,528 bytes) through QEMU while two busy loops compete
    for the two cores, LOADED_TRANSFERS times: every output bit-exact with TFLM. With the
    firmware's old byte timeout (virtual time) such inputs failed 2 of 3 times under load."""
    rng = np.random.default_rng(3)
    model = build.conv2d(rng, 3, 2, (8, 8), 8, "VALID", 1, "NONE")
    path = build.convert(model, (1, 224, 224, 3), tmp_path / "wide_input.tflite", rng)
    board = load_board("qemu-mps2-an386")
    built = build_for_model(path, board, tmp_path / "firmware", "portable")
    assert built.input.shape == (1, 224, 224, 3)
    inputs = random_inputs(built.input, LOADED_TRANSFERS, seed=11)
    reference = oracle.run_tflm(path, inputs)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BUSY_LOOPS)]
    try:
        with run_qemu(board, built.firmware.elf, timeout_seconds=60) as client:
            for index, sample in enumerate(inputs):
                assert len(sample.tobytes()) == 150_528
                reply = client.infer(sample.tobytes())
                assert reply.output == reference[index].tobytes(), index
    finally:
        for process in busy:
            process.kill()
            process.wait()
