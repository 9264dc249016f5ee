# SPDX-License-Identifier: Apache-2.0
"""The cmsis-nn backend: generated code calling CMSIS-NN, bit-exact with TFLM on the host (its
plain C code) and on the QEMU boards (its DSP code on the M4 and M7, its Helium code on the
M55), scratch sized by CMSIS-NN itself, the pinned release checked by content.

Runs where CMSIS-NN is available (CMSIS_NN_PATH, or third_party/ after `make cmsis-nn`) and
skips otherwise; MCU_REQUIRE_CMSIS_NN=1 turns that skip into a failure. The tests of what
happens without CMSIS-NN run everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tflite_builders as build
from c_style import clang_format_violations
from model_fixtures import quantized_mobilenet  # noqa: F401 (a fixture, used by name)

from mcu_mobilenet import cmsis_nn_release
from mcu_mobilenet.boards import load_board
from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.compiler.target import ANY_CORTEX_M, HOST, board_target
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.harness.emulators import run_qemu
from mcu_mobilenet.harness.protocol import FirmwareError
from mcu_mobilenet.paths import BOARDS_DIR
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.firmware import ModelSources, build_firmware
from mcu_mobilenet.workflow.validation import (
    build_host_runner,
    run_host_runner,
    validate_on_board,
    validate_on_host,
)

QEMU_BOARDS = ["qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps3-an547"]  # M4, M7, M55
PORTABLE_KERNELS = {"mm_mean_hw_s8", "mm_quantize_f32_s8", "mm_dequantize_s8_f32"}


@pytest.fixture(scope="module")
def cmsis_nn_root() -> Path:
    root = cmsis_nn_release.locate()
    if root is None:
        reason = "CMSIS-NN not available: set CMSIS_NN_PATH or run `make cmsis-nn`"
        if os.environ.get("MCU_REQUIRE_CMSIS_NN") == "1":
            pytest.fail(f"{reason} (MCU_REQUIRE_CMSIS_NN=1)")
        pytest.skip(reason)
    return root


@pytest.fixture
def qemu() -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc not installed")


@pytest.fixture
def no_cmsis_nn(monkeypatch, tmp_path):
    """An environment without CMSIS-NN: no CMSIS_NN_PATH, no third_party/ copy."""
    monkeypatch.delenv(cmsis_nn_release.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(cmsis_nn_release, "THIRD_PARTY_DIR", tmp_path / "no-third-party")


def kernel_zoo(rng: np.random.Generator):
    """Every CMSIS-NN kernel the backend calls, on awkward shapes: a strided 3x3 convolution
    (im2col), 3x3 depthwise (its DSP 3x3 kernel; Helium reads past 6 channels), 5x5 depthwise
    (the _opt kernel), depth multiplier 2 and dilation 2 (the generic kernel), 1x1 convolutions
    of stride 1 and 2, PAD, average pooling, ADD of two branches, a 1xN convolution on a
    one-row map, fully connected and softmax."""
    import tensorflow as tf

    def weights(*shape, scale=0.4):
        return tf.constant(rng.normal(0, scale, shape), tf.float32)

    def depthwise(x, kernel, multiplier=1, dilation=1):
        w = weights(kernel, kernel, x.shape[-1], multiplier)
        y = tf.nn.depthwise_conv2d(x, w, (1, 1, 1, 1), "SAME", dilations=(dilation, dilation))
        return tf.nn.relu(y + weights(x.shape[-1] * multiplier, scale=0.2))

    def conv(x, kernel, outputs, stride=1, padding="SAME"):
        w = weights(kernel[0], kernel[1], x.shape[-1], outputs)
        return tf.nn.conv2d(x, w, stride, padding) + weights(outputs, scale=0.2)

    fc_weights = weights(7 * 8, 5, scale=1.5)

    @tf.function
    def model(x):  # 1x16x16x3
        y = tf.nn.relu6(conv(x, (3, 3), 8, stride=2))  # 8x8x8
        y = depthwise(y, 3)
        y = conv(y, (1, 1), 6)  # 8x8x6
        y = depthwise(y, 3)  # 6 channels: not a multiple of 4
        y = depthwise(y, 5)
        y = depthwise(y, 3, multiplier=2)  # 8x8x12
        y = depthwise(y, 3, dilation=2)
        y = conv(y, (1, 1), 16, stride=2)  # 4x4x16
        y = tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]])  # 6x6x16
        y = tf.nn.avg_pool2d(y, 2, 2, "VALID")  # 3x3x16
        y = tf.nn.relu(conv(y, (1, 1), 16) + tf.nn.relu(conv(y, (1, 1), 16)))
        y = conv(tf.reshape(y, (1, 1, 9, 16)), (1, 3), 8, padding="VALID")  # 1x7x8
        return tf.nn.softmax(tf.matmul(tf.reshape(y, (1, 7 * 8)), fc_weights))

    return model


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    rng = np.random.default_rng(2026)
    path = tmp_path_factory.mktemp("zoo") / "zoo.tflite"
    return build.convert(kernel_zoo(rng), (1, 16, 16, 3), path, rng, (-1.0, 1.0))


# Getting CMSIS-NN: the pinned release, checked by content.


def test_missing_cmsis_nn_is_a_one_line_error_saying_how_to_get_it(run_cli, no_cmsis_nn, tmp_path):
    model = Path(__file__).parent / "data" / "tiny.tflite"
    code, _, err = run_cli("compile", model, "-o", tmp_path / "out", "--backend", "cmsis-nn")
    assert code == 2
    assert err.count("\n") == 1, err
    assert "make cmsis-nn" in err and "CMSIS_NN_PATH" in err and "v7.0.0" in err
    assert not (tmp_path / "out").exists()


def test_a_cortex_m_board_defaults_to_native_with_or_without_cmsis_nn(
    run_cli, no_cmsis_nn, tmp_path
):
    model = Path(__file__).parent / "data" / "tiny.tflite"
    args = ("compile", model, "--board", "qemu-mps2-an386", "-o", tmp_path / "out", "--json", "-")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert json.loads(out)["backend"] == "native"
    notice = err.strip()
    assert len(notice.splitlines()) == 1
    assert "using the native backend" in notice and "cortex-m4" in notice


def test_cmsis_nn_on_a_board_sizes_its_scratch_for_the_cpu(run_cli, cmsis_nn_root, tmp_path):
    model = Path(__file__).parent / "data" / "tiny.tflite"
    args = ("compile", model, "--board", "qemu-mps2-an386", "--backend", "cmsis-nn")
    code, out, err = run_cli(*args, "-o", tmp_path / "out", "--json", "-")
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == "cmsis-nn" and report["cmsis_nn_code_path"] == "dsp"
    assert "using the" not in err  # asked for, so nothing to explain
    # On the host, validate keeps the portable kernels unless asked.
    code, out, err = run_cli("validate", model, "--inputs", "2", "--json")
    assert code == 0 and json.loads(out)["passed"] and "using the" not in err


def _copy_sources(root: Path, destination: Path) -> Path:
    for folder in ("Include", "Source"):
        shutil.copytree(root / folder, destination / folder)
    return destination


def test_content_hash_accepts_the_release_and_rejects_a_modified_tree(cmsis_nn_root, tmp_path):
    tree = _copy_sources(cmsis_nn_root, tmp_path / "copy")
    cmsis_nn_release.verify(tree)
    source = tree / "Source" / "SoftmaxFunctions" / "arm_softmax_s8.c"
    source.write_bytes(source.read_bytes().replace(b"diff_min", b"diff_max", 1))
    with pytest.raises(UserError, match=r"is not CMSIS-NN v7\.0\.0: its sources differ"):
        cmsis_nn_release.verify(tree)


def test_a_modified_cmsis_nn_path_is_refused_at_build_time(
    run_cli, cmsis_nn_root, tmp_path, monkeypatch
):
    tree = _copy_sources(cmsis_nn_root, tmp_path / "copy")
    (tree / "Source" / "extra.c").write_text("int extra;\n")
    monkeypatch.setenv(cmsis_nn_release.ENVIRONMENT_VARIABLE, str(tree))
    model = Path(__file__).parent / "data" / "tiny.tflite"
    code, _, err = run_cli("compile", model, "-o", tmp_path / "out", "--backend", "cmsis-nn")
    assert code == 2 and err.count("\n") == 1
    assert f"CMSIS_NN_PATH={tree} is not CMSIS-NN v7.0.0" in err


def _release_tarball(tree: Path, path: Path) -> str:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname="CMSIS-NN-7.0.0")
    return path.as_uri()


def test_fetch_installs_a_verified_release_and_refuses_a_wrong_one(cmsis_nn_root, tmp_path):
    """`make cmsis-nn` runs fetch; here the release comes from a file:// URL, not GitHub."""
    good = _release_tarball(_copy_sources(cmsis_nn_root, tmp_path / "good"), tmp_path / "g.tgz")
    installed = cmsis_nn_release.fetch(tmp_path / "third_party" / "CMSIS-NN", good)
    cmsis_nn_release.verify(installed)
    bad_tree = _copy_sources(cmsis_nn_root, tmp_path / "bad")
    (bad_tree / "Include" / "arm_nn_types.h").write_text("/* not the release */\n")
    bad = _release_tarball(bad_tree, tmp_path / "b.tgz")
    with pytest.raises(UserError, match="is not CMSIS-NN v7.0.0"):
        cmsis_nn_release.fetch(tmp_path / "elsewhere" / "CMSIS-NN", bad)
    assert not (tmp_path / "elsewhere" / "CMSIS-NN").exists()
    assert not list((tmp_path / "elsewhere").glob(".cmsis-nn-*")), "a temporary was left"


# What the compiler generates.


def test_every_layer_but_mean_and_quantize_runs_on_cmsis_nn(cmsis_nn_root, zoo, tmp_path):
    result = compile_model(zoo, tmp_path / "out", "zoo", "cmsis-nn", target=HOST)
    kernels = {layer.kernel for layer in result.layers if not layer.alias}
    assert kernels == {
        "arm_convolve_wrapper_s8",
        "arm_depthwise_conv_wrapper_s8",
        "arm_pad_s8",
        "arm_avgpool_s8",
        "arm_elementwise_add_s8",
        "arm_fully_connected_per_channel_s8",
        "arm_softmax_s8",
    }
    assert all(not layer.streams for layer in result.layers), "no in-place overlaps"
    model_c = (tmp_path / "out" / "zoo_model.c").read_text()
    # Every CMSIS-NN struct is static const data but the context of the scratch, which the
    # caller may own (zoo_invoke_with); the one const-cast is defined once.
    locals_ = re.findall(
        r"^[ \t]+(?:static )?(?:const )?cmsis_nn_\w+ \w+ =.*", model_c, re.MULTILINE
    )
    assert locals_ == ["    const cmsis_nn_context zoo_context = {scratch, ZOO_SCRATCH_SIZE};"]
    assert len(re.findall(r"^static const cmsis_nn_\w+ zoo_l\d+_", model_c, re.MULTILINE)) > 40
    assert model_c.count("#define ZOO_CMSIS_NN_MUTABLE") == 1
    assert clang_format_violations(sorted((tmp_path / "out").glob("zoo_*"))) == ""
    assert "input_offset = " in model_c
    # Only the CMSIS-NN sources the calls need are shipped, with CMSIS-NN's licence.
    shipped = {path.name for path in (tmp_path / "out" / "cmsis-nn" / "Source").rglob("*.c")}
    assert "arm_convolve_wrapper_s8.c" in shipped and "arm_svdf_s8.c" not in shipped
    assert len(shipped) < 40
    assert (tmp_path / "out" / "cmsis-nn" / "LICENSE").is_file()


def test_sign_conventions_follow_tflm(cmsis_nn_root, zoo):
    """input_offset = -input zero point, output_offset = +output zero point, filter_offset 0."""
    compilation = analyze(zoo, "cmsis-nn", HOST)
    for layer in compilation.layers:
        if "input_offset" in layer.params:
            assert layer.params["input_offset"] == -layer.inputs[0].quantization.zero_point
            assert layer.params["output_offset"] == layer.output.quantization.zero_point
        if layer.kernel.startswith("arm_fully_connected"):
            assert layer.params["filter_offset"] == 0


def test_scratch_depends_on_the_cpus_code_path(cmsis_nn_root, zoo):

    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    sizes = {}
    for board in ("qemu-mps2-an386", "qemu-mps3-an547"):
        target = board_target(load_board(board))
        sizes[target.features] = analyze(zoo, "cmsis-nn", target)
    sizes["plain"] = analyze(zoo, "cmsis-nn", HOST)
    generic = analyze(zoo, "cmsis-nn", ANY_CORTEX_M)
    assert set(sizes) == {"plain", "dsp", "mve"}
    scratch = {path: compilation.scratch_bytes for path, compilation in sizes.items()}
    assert len(set(scratch.values())) == 3, scratch
    assert generic.scratch_bytes == max(scratch.values())
    for compilation in (*sizes.values(), generic):
        report = compilation.report()
        assert report["scratch_bytes"] == max(layer["scratch_bytes"] for layer in report["layers"])
    # Helium fully connected kernels start from precomputed kernel sums kept in flash.
    fc = [layer for layer in sizes["mve"].layers if layer.kernel.startswith("arm_fully")]
    assert [c.name for c in fc[0].constants][-1] == "kernel_sums"


def _with_scratch(result, size: int) -> None:
    header = result.out_dir / f"{result.prefix}_model.h"
    macro = f"#define {result.prefix.upper()}_SCRATCH_SIZE"
    text, count = re.subn(rf"{macro} \d+", f"{macro} {size}", header.read_text())
    assert count == 1
    header.write_text(text)


def test_scratch_is_exactly_what_cmsis_nn_asks_for_on_the_host(cmsis_nn_root, zoo, tmp_path):
    """The generated init asks CMSIS-NN's own get_buffer_size functions, compiled for the CPU
    the code runs on: the reserved scratch passes, one byte less fails at the layer."""
    result = compile_model(zoo, tmp_path / "out", "model", "cmsis-nn", target=HOST)
    scratch = result.scratch_bytes
    assert scratch > 0
    assert (
        f"#define MODEL_SCRATCH_SIZE {scratch}\n"
        in (tmp_path / "out" / "model_model.h").read_text()
    )
    samples = np.zeros((1, *result.input.shape[1:]), dtype=np.int8)
    run_host_runner(build_host_runner(result, tmp_path), samples, result.output)
    _with_scratch(result, scratch - 1)
    (tmp_path / "short").mkdir()
    with pytest.raises(RuntimeError, match="cannot initialise the model"):
        run_host_runner(build_host_runner(result, tmp_path / "short"), samples, result.output)


# Bit-exact with TFLM: one op at a time on the host, whole models on the host and the boards.


# What the kernel zoo does not already cover on the host.
ONE_OP_CASES = {
    "conv5x3-dilation2": (lambda rng: build.conv2d(rng, 4, 3, (5, 3), 1, "VALID", 2, "RELU"),
                          (1, 12, 9, 4)),
    "conv1x1-odd-pixels": (lambda rng: build.conv2d(rng, 7, 9, (1, 1), 1, "SAME", 1, "NONE"),
                           (1, 5, 3, 7)),
    "dw5x5-stride2": (lambda rng: build.depthwise(rng, 6, 1, (5, 5), (2, 2), "SAME", 1, "NONE"),
                      (1, 11, 9, 6)),
    "dw-multiplier3": (lambda rng: build.depthwise(rng, 2, 3, (3, 2), (1, 1), "VALID", 1, "RELU"),
                       (1, 6, 7, 2)),
    "avgpool-same": (lambda rng: build.average_pool((3, 3), 2, "SAME"), (1, 7, 9, 5)),
    "softmax": (lambda rng: build.softmax(), (1, 10)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ONE_OP_CASES))
def test_one_op_is_bit_exact_on_the_host(cmsis_nn_root, tmp_path, case):
    rng = np.random.default_rng(sum(map(ord, case)))
    make, shape = ONE_OP_CASES[case]
    input_range = (-8.0, 3.0) if case == "softmax" else (-1.5, 2.0)
    path = build.convert(make(rng), shape, tmp_path / "op.tflite", rng, input_range)
    _assert_bit_exact_on_host(path)


def test_per_tensor_fully_connected_is_bit_exact_on_the_host(cmsis_nn_root, tmp_path):
    rng = np.random.default_rng(4)
    model = build.fully_connected(rng, 32, 10, "NONE")
    path = build.convert(
        model, (1, 32), tmp_path / "fc.tflite", rng, (-1.0, 2.0), per_tensor_dense=True
    )
    assert [layer.kernel for layer in analyze(path, "cmsis-nn", HOST).layers] == [
        "arm_fully_connected_s8"
    ]
    _assert_bit_exact_on_host(path)


def _assert_bit_exact_on_host(path: Path) -> None:
    report = validate_on_host(path, inputs=5, seed=3, per_layer=True, backend="cmsis-nn")
    assert report.mismatches == [], report.mismatches
    assert report.first_layer_mismatch is None, report.first_layer_mismatch
    assert report.bit_exact == 5


def test_kernel_zoo_is_bit_exact_on_the_host(cmsis_nn_root, zoo):
    _assert_bit_exact_on_host(zoo)


def test_person_detect_is_bit_exact_on_the_host(cmsis_nn_root, person_detect, shared_models):
    images = [shared_models / "person.bmp", shared_models / "no_person.bmp"]
    report = validate_on_host(
        person_detect, 3, images, per_layer=True, pixel_format="raw", backend="cmsis-nn"
    )
    assert report.passed and report.bit_exact == 5
    assert report.layers_compared == 31
    assert [sample["output"] for sample in report.outputs[3:]] == [[-113, 113], [57, -57]]


@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_project_mobilenet_is_bit_exact_on_the_host(cmsis_nn_root, quantized_mobilenet, alpha):  # noqa: F811
    _assert_bit_exact_on_host(quantized_mobilenet(alpha=alpha, resolution=32))


def _assert_bit_exact_on_board(model: Path, board: str, images=(), **options):

    report = validate_on_board(model, board, None, "cmsis-nn", 3, list(images), 5, **options)
    assert report.passed, (board, report.mismatches)
    assert report.bit_exact == 3 + len(images)
    return report


@pytest.mark.slow
@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_person_detect_is_bit_exact_on_the_board(
    cmsis_nn_root, qemu, person_detect, shared_models, board
):
    images = [shared_models / "person.bmp", shared_models / "no_person.bmp"]
    report = _assert_bit_exact_on_board(person_detect, board, images, pixel_format="raw")
    assert [sample["output"] for sample in report.outputs[3:]] == [[-113, 113], [57, -57]]


@pytest.mark.slow
@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_kernel_zoo_is_bit_exact_on_the_board(cmsis_nn_root, qemu, zoo, board):
    _assert_bit_exact_on_board(zoo, board)


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_project_mobilenet_is_bit_exact_on_every_qemu_board(
    cmsis_nn_root,
    qemu,
    quantized_mobilenet,  # noqa: F811
    alpha,
):
    model = quantized_mobilenet(alpha=alpha, resolution=32)
    for board in QEMU_BOARDS:
        _assert_bit_exact_on_board(model, board)


@pytest.mark.slow
def test_scratch_is_exactly_what_cmsis_nn_asks_for_on_helium(cmsis_nn_root, qemu, zoo, tmp_path):
    """On the M55, the firmware's init asks CMSIS-NN's Helium code: one byte less fails."""

    board = load_board("qemu-mps3-an547")
    result = compile_model(zoo, tmp_path / "model", "model", "cmsis-nn", target=board_target(board))
    sources = ModelSources(tuple(result.sources), tuple(result.include_dirs), result.prefix)
    sample = np.zeros(result.input.nbytes, dtype=np.int8).tobytes()
    firmware = build_firmware(board, sources, tmp_path / "exact")
    with run_qemu(board, firmware.elf, 60) as client:
        assert len(client.infer(sample).output) == result.output.nbytes
    _with_scratch(result, result.scratch_bytes - 1)
    firmware = build_firmware(board, sources, tmp_path / "short")
    with run_qemu(board, firmware.elf, 60) as client, pytest.raises(FirmwareError, match="init"):
        client.infer(sample)


@pytest.mark.slow
def test_bench_json_names_the_backend(cmsis_nn_root, qemu, run_cli, person_detect):
    code, out, err = run_cli(
        "bench", person_detect, "--board", "qemu-mps3-an547", "--backend", "cmsis-nn",
        "--runs", "1", "--json", "--no-tflm",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == "cmsis-nn" and report["macs"] == 7_157_888
    assert report["scratch_bytes"] > 0
    assert report["arena_bytes"] >= 55_296 + report["scratch_bytes"]  # .arena holds both
    assert isinstance(report["time_per_inference"], int) and report["time_per_inference"] > 0


def test_a_board_too_small_for_arena_and_scratch_is_refused_early(
    cmsis_nn_root, run_cli, person_detect, tmp_path
):
    """The early fit check counts the scratch: arena and stack fit this RAM, the scratch not."""

    board = tmp_path / "qemu-mps3-an547"
    shutil.copytree(BOARDS_DIR / "qemu-mps3-an547", board)
    toml = (board / "board.toml").read_text()
    ram = 55_296 + 2_048 + 1_000  # person_detect's arena, the stack, less than the scratch
    board_toml = toml.replace("size = 0x00080000", f"size = {ram}")
    assert board_toml != toml
    (board / "board.toml").write_text(board_toml)
    args = ("--board", board, "--backend", "cmsis-nn", "-o", tmp_path / "out")
    code, _, err = run_cli("build", person_detect, *args)
    assert code == 2 and err.count("\n") == 1
    assert "its arena (55,296 bytes), its scratch (4,464)" in err
