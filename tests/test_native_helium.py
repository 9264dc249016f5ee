# SPDX-License-Identifier: Apache-2.0
"""The native backend's Helium (MVE) path, bit-exact with TFLM on the Cortex-M55 (QEMU mps3-an547).

Compiled for an MVE board, the native backend lays its weights out for the Helium kernels
(mm_native_mve_*); without a board, or for a CPU without MVE, it keeps the DSP/C layout. The
requantization is checked lane by lane on the M55 against TFLM's arithmetic, random one-op
models and the zoo of test_native.py run through the Helium kernels (the compile report and
the firmware's symbols say so), and code generated for Helium refuses to build for any other
CPU. person_detect on the M55 runs in test_native.py's every-board test, on this same path.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tflite_builders as build
from test_native import _random_cases, native_zoo

from mcu_mobilenet.boards import load_board
from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.compiler.target import board_target
from mcu_mobilenet.paths import FIRMWARE_DIR, PROJECT_ROOT
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.firmware import build_for_model
from mcu_mobilenet.workflow.validation import validate_on_board

M55 = "qemu-mps3-an547"
HELIUM_KERNELS = {
    "mm_native_mve_depthwise_3x3_s8",
    "mm_native_mve_pointwise_s8",
    "mm_native_mve_conv_s8",
}
DSP_KERNELS = {"mm_native_depthwise_3x3_s8", "mm_native_pointwise_s8", "mm_native_conv_s8"}
CROSS_GCC = "arm-none-eabi-gcc"


@pytest.fixture(scope="module")
def qemu() -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which(CROSS_GCC) is None:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc not installed")


@pytest.fixture(scope="module")
def m55(qemu):
    return board_target(load_board(M55))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    rng = np.random.default_rng(2026)
    path = tmp_path_factory.mktemp("helium-zoo") / "zoo.tflite"
    return build.convert(native_zoo(rng), (1, 17, 15, 1), path, rng, (-1.0, 1.0))


def test_the_requantization_matches_tflm_on_the_m55(qemu, tmp_path):
    """The Helium kernels' requantization against mm_fixed_point.h over a million lanes, tens
    of thousands of them ties of negative values (tests/native_mve/requantize_check.c)."""
    board = load_board(M55)
    elf = tmp_path / "requantize_check.elf"
    kernels = FIRMWARE_DIR / "kernels"
    subprocess.run(
        [CROSS_GCC, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-mthumb",
         *board.cpu_flags, f"-I{kernels / 'native'}", f"-I{kernels}", "-nostartfiles",
         "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--defsym=MM_STACK_SIZE=4096",
         f"-L{PROJECT_ROOT / 'boards' / 'common'}", f"-T{board.linker_script}",
         str(Path(__file__).parent / "native_mve" / "requantize_check.c"), "-o", str(elf)],
        check=True,
    )  # fmt: skip
    run = subprocess.run(
        ["qemu-system-arm", "-machine", board.qemu.machine, "-nographic", "-semihosting",
         "-kernel", str(elf)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    report = run.stderr  # QEMU writes the semihosting console there
    words = report.split()
    assert run.returncode == 0, report
    assert words[words.index("mismatches") + 1] == "0", report
    assert int(words[words.index("ties") + 1]) > 10_000, report  # negative ties covered
    assert int(words[words.index("cases") + 1]) > 1_000_000, report


@pytest.mark.parametrize("kind, args, shape, input_range", _random_cases(12))
def test_one_op_is_bit_exact_on_the_m55(m55, tmp_path, kind, args, shape, input_range):
    rng = build.case_rng(args)
    make = build.depthwise if kind == "depthwise" else build.conv2d
    path = build.convert(make(rng, *args), shape, tmp_path / "op.tflite", rng, input_range)
    kernels = [layer.kernel for layer in analyze(path, "native", m55).layers]
    assert all(kernel in HELIUM_KERNELS for kernel in kernels), kernels
    _assert_bit_exact_on_the_m55(path)


@pytest.mark.parametrize("depth, outputs, per_tensor", [(37, 10, False), (16, 5, True)])
def test_fully_connected_is_bit_exact_on_the_m55(m55, tmp_path, depth, outputs, per_tensor):
    rng = np.random.default_rng(depth)
    model = build.fully_connected(rng, depth, outputs, "NONE")
    path = build.convert(
        model, (1, depth), tmp_path / "fc.tflite", rng, (-1.0, 2.0), per_tensor_dense=per_tensor
    )
    layers = analyze(path, "native", m55).layers
    assert [layer.kernel for layer in layers] == ["mm_native_mve_pointwise_s8"]
    assert layers[0].params["ties"] == "MM_NATIVE_MVE_TIES_AWAY"  # no activation clamps
    _assert_bit_exact_on_the_m55(path)


def test_the_zoo_runs_every_helium_kernel(m55, zoo):
    layers = analyze(zoo, "native", m55).layers
    assert {layer.kernel for layer in layers if not layer.alias} == HELIUM_KERNELS
    ties = {layer.params["ties"] for layer in layers if layer.library == "native"}
    assert ties == {"MM_NATIVE_MVE_TIES_CLAMPED", "MM_NATIVE_MVE_TIES_AWAY"}
    multipliers = {layer.params.get("depth_multiplier") for layer in layers}
    assert {1, 2, 8} <= multipliers


def test_person_detect_runs_only_helium_kernels_on_the_m55(m55, person_detect):
    layers = analyze(person_detect, "native", m55).layers
    convolutions = [layer for layer in layers if layer.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convolutions) == 28
    assert {layer.kernel for layer in convolutions} == {
        "mm_native_mve_depthwise_3x3_s8",
        "mm_native_mve_pointwise_s8",
    }


def test_the_m55_firmware_links_the_helium_kernels_only(m55, zoo, tmp_path):

    built = build_for_model(zoo, load_board(M55), tmp_path, "native")
    names = subprocess.run(
        ["arm-none-eabi-nm", str(built.firmware.elf)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert HELIUM_KERNELS <= set(names)
    assert not DSP_KERNELS & set(names)
    assert {layer["kernel"] for layer in built.compile_report["layers"]} >= HELIUM_KERNELS


def test_without_a_board_or_without_mve_native_keeps_the_dsp_layout(qemu, zoo):
    m4 = board_target(load_board("qemu-mps2-an386"))
    for target in (None, m4):
        kernels = {layer.kernel for layer in analyze(zoo, "native", target).layers}
        assert DSP_KERNELS <= kernels and not kernels & HELIUM_KERNELS


def test_helium_code_refuses_to_build_for_a_cpu_without_mve(m55, zoo, tmp_path):
    result = compile_model(zoo, tmp_path / "out", "zoo", "native", target=m55)
    model_c = tmp_path / "out" / "zoo_model.c"
    includes = [f"-I{directory}" for directory in result.include_dirs]

    def build_for(cpu: str) -> subprocess.CompletedProcess:
        command = [CROSS_GCC, "-std=c99", "-mthumb", f"-mcpu={cpu}", "-mfloat-abi=hard",
                   "-Wall", "-Wextra", "-Werror", *includes, "-c", str(model_c), "-o",
                   str(tmp_path / f"{cpu}.o")]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True)

    assert build_for("cortex-m55").returncode == 0
    refused = build_for("cortex-m4")
    assert refused.returncode != 0
    assert "compiled for a Cortex-M with Helium (MVE)" in refused.stderr


def test_a_layer_without_a_helium_kernel_keeps_its_portable_kernel(m55, tmp_path):
    rng = np.random.default_rng(5)
    model = build.depthwise(rng, 4, 1, (5, 5), (1, 1), "SAME", 1, "RELU6")
    path = build.convert(model, (1, 9, 9, 4), tmp_path / "dw5.tflite", rng)
    layers = analyze(path, "native", m55).layers
    assert [(layer.kernel, layer.library) for layer in layers] == [
        ("mm_depthwise_conv2d_s8", "portable")
    ]


def _assert_bit_exact_on_the_m55(model: Path) -> None:

    report = validate_on_board(model, M55, None, "native", 3, [], 5)
    assert report.passed, report.mismatches
    assert report.bit_exact == 3
