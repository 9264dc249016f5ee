# SPDX-License-Identifier: Apache-2.0
"""The compiler end to end: reference model bit-exact, memory plan, determinism, golden C,
cross-compilation, and every user error with its one-line message and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tflite_builders as build
from conftest import load_person_image
from model_fixtures import quantized_mobilenet  # noqa: F401 (a fixture, used by name)

from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.compiler.planner import plan_memory
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.oracle import run_tflm
from mcu_mobilenet.tensor_info import TensorInfo
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.inputs import image_input
from mcu_mobilenet.workflow.validation import validate_on_host

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
TFLM_PERSON_DETECT_ARENA = 85_264  # print_allocations() of the tflite-micro package


def test_person_detect_is_bit_exact_and_classifies_like_tflm(person_detect, shared_models):
    images = [shared_models / "person.bmp", shared_models / "no_person.bmp"]
    report = validate_on_host(
        person_detect, inputs=4, images=images, pixel_format="raw", per_layer=True
    )
    assert report.passed and report.bit_exact == 6
    assert report.layers_compared == 31
    person, no_person = (sample["output"] for sample in report.outputs[-2:])
    assert person == [-113, 113] and no_person == [57, -57]  # as the models README states


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75, 1.0])
def test_project_mobilenets_are_bit_exact(quantized_mobilenet, alpha):  # noqa: F811
    model = quantized_mobilenet(alpha=alpha, resolution=32)
    report = validate_on_host(model, inputs=5, seed=alpha_seed(alpha), per_layer=True)
    assert report.passed and report.bit_exact == 5
    assert report.layers_compared == 30  # conv, 13 x (depthwise, pointwise), mean, fc, softmax
    plan = analyze(model).plan
    assert plan.arena_bytes < plan.liveness_bound  # the overlaps pay on every width


def alpha_seed(alpha: float) -> int:
    return int(alpha * 100)


def test_raw_pixels_are_the_readme_int8_values(shared_models):

    info = TensorInfo((1, 96, 96, 1), "int8", 2 / 255, -1)
    ours = image_input(shared_models / "person.bmp", info, "raw")
    assert np.array_equal(ours, load_person_image(shared_models / "person.bmp"))


def test_person_detect_arena_meets_the_goal(person_detect):
    plan = analyze(person_detect).plan
    assert plan.liveness_bound == 55_296  # TFLM's activation head: the bound without overlaps
    assert plan.arena_bytes <= 0.55 * TFLM_PERSON_DETECT_ARENA
    assert plan.arena_bytes < plan.liveness_bound


def test_plan_never_exceeds_the_liveness_bound_and_overlaps_only_where_safe(person_detect):
    for model in (person_detect, DATA / "tiny.tflite"):
        compilation = analyze(model)
        assert compilation.plan.arena_bytes <= _aligned(compilation.plan.liveness_bound)
        without_overlaps = analyze(model)

        disjoint = plan_memory(without_overlaps.graph, without_overlaps.layers, allow_overlap=False)
        assert disjoint.arena_bytes <= _aligned(disjoint.liveness_bound)
        assert compilation.plan.arena_bytes <= disjoint.arena_bytes


def _aligned(value: int) -> int:
    return (value + 15) // 16 * 16


def test_same_model_same_bytes(tmp_path, person_detect):
    first = compile_model(person_detect, tmp_path / "a", prefix="pd")
    second = compile_model(person_detect, tmp_path / "b", prefix="pd")
    for a, b in zip(first.files, second.files, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_generated_code_matches_golden_files(tmp_path):
    result = compile_model(DATA / "tiny.tflite", tmp_path, prefix="tiny")
    for name in ("tiny_model.h", "tiny_model.c", "tiny_weights.h", "tiny_weights.c"):
        produced = (tmp_path / name).read_text()
        if os.environ.get("MCU_UPDATE_GOLDEN") == "1":
            (GOLDEN / name).write_text(produced)
        assert produced == (GOLDEN / name).read_text(), (
            f"{name} differs from tests/golden; if the change is intended, rerun with "
            "MCU_UPDATE_GOLDEN=1 and review the diff"
        )
    assert sorted(p.name for p in (tmp_path / "kernels").iterdir()) == [
        "mm_conv.c",
        "mm_conv.h",
        "mm_depthwise_conv.c",
        "mm_depthwise_conv.h",
        "mm_fixed_point.h",
        "mm_fully_connected.c",
        "mm_fully_connected.h",
        "mm_pooling.c",
        "mm_pooling.h",
        "mm_softmax.c",
        "mm_softmax.h",
        "mm_types.h",
    ]
    assert result.report()["macs"] == 648 + 324 + 12


def test_tiny_model_is_bit_exact():
    report = validate_on_host(DATA / "tiny.tflite", inputs=50, seed=3, per_layer=True)
    assert report.passed and report.bit_exact == 50


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_generated_code_cross_compiles_warning_free(tmp_path, person_detect, cpu):
    compiler = shutil.which("arm-none-eabi-gcc")
    if compiler is None:
        pytest.skip("arm-none-eabi-gcc not installed (make setup installs it)")
    result = compile_model(person_detect, tmp_path / "out", prefix="pd")
    for source in result.sources:
        subprocess.run(
            [
                compiler,
                f"-mcpu={cpu}",
                "-mthumb",
                "-std=c99",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-ffreestanding",
                *(f"-I{d}" for d in result.include_dirs),
                "-c",
                str(source),
                "-o",
                str(tmp_path / (source.stem + ".o")),
            ],
            check=True,
        )
    symbols = subprocess.run(
        ["arm-none-eabi-nm", *map(str, tmp_path.glob("*.o"))], capture_output=True, text=True
    ).stdout
    assert "malloc" not in symbols and "free" not in symbols.split()


def test_compile_cli_report_and_json(tmp_path, run_cli, person_detect):

    code, out, err = run_cli(
        "compile",
        person_detect,
        "-o",
        tmp_path / "out",
        "--prefix",
        "pd",
        "--json",
        tmp_path / "report.json",
        "--plan",
    )
    assert code == 0, err
    assert "DEPTHWISE_CONV_2D" in out and "Memory plan" in out
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("arena_bytes", "scratch_bytes", "weights_bytes", "macs"):
        assert isinstance(report[key], int)
    assert report["macs"] == 7_157_888
    assert len(report["layers"]) == 31


# Errors: one line, the file and the problem named, nothing written.


def _assert_clean_error(run_cli, tmp_path, args, *fragments):
    out_dir = tmp_path / "out"
    code, out, err = run_cli("compile", *args, "-o", out_dir)
    assert code == 2
    message = err.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    assert not out_dir.exists() or not any(out_dir.rglob("*")), "files were written"
    return message


def test_truncated_model(tmp_path, run_cli, person_detect):
    for size in (4, 100, 5000, 150_000, 300_000):
        path = tmp_path / "truncated.tflite"
        path.write_bytes(person_detect.read_bytes()[:size])
        _assert_clean_error(run_cli, tmp_path, [path], str(path))


def test_corrupted_models_never_crash(tmp_path, person_detect):
    """Random byte flips give a UserError or a valid model, never another exception."""
    original = bytearray(person_detect.read_bytes())
    rng = np.random.default_rng(7)
    for trial in range(60):
        data = bytearray(original)
        positions = rng.integers(8, 4096 if trial % 2 else len(data), size=8)
        for position in positions:
            data[position] = int(rng.integers(0, 256))
        path = tmp_path / f"corrupt{trial}.tflite"
        path.write_bytes(bytes(data))
        try:
            analyze(path)
        except UserError as error:
            assert "\n" not in str(error)


def test_not_a_tflite_file(tmp_path, run_cli):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"PK\x03\x04 this is a zip file, not a model" * 4)
    _assert_clean_error(run_cli, tmp_path, [path], "not a TFLite flatbuffer")


def test_missing_file_and_folder(tmp_path, run_cli):
    _assert_clean_error(run_cli, tmp_path, [tmp_path / "absent.tflite"], "no such file")
    _assert_clean_error(run_cli, tmp_path, [tmp_path], "is a folder")


def test_float_model(tmp_path, run_cli):

    rng = np.random.default_rng(0)
    model = build.conv2d(rng, 3, 4, (3, 3), 1, "SAME", 1, "RELU6")
    path = build.convert(model, (1, 8, 8, 3), tmp_path / "float.tflite", rng, quantize=False)
    _assert_clean_error(run_cli, tmp_path, [path], "op 0 (CONV_2D)", "float", "quantize")


def test_unsupported_op(tmp_path, run_cli):

    rng = np.random.default_rng(0)
    path = build.convert(build.max_pool(), (1, 8, 8, 3), tmp_path / "maxpool.tflite", rng)
    _assert_clean_error(
        run_cli, tmp_path, [path], "op 0 (MAX_POOL_2D) is not supported", "average pooling"
    )


@pytest.mark.parametrize("prefix", ["1model", "my-model", "int", "__x", ""])
def test_bad_prefix(tmp_path, run_cli, prefix):
    _assert_clean_error(run_cli, tmp_path, [DATA / "tiny.tflite", "--prefix", prefix], "prefix")


def test_existing_output_is_kept_unless_forced(tmp_path, run_cli):
    out_dir = tmp_path / "out"
    assert run_cli("compile", DATA / "tiny.tflite", "-o", out_dir, "--prefix", "t")[0] == 0
    header = out_dir / "t_model.h"
    header.write_text("/* mine */")
    code, _, err = run_cli("compile", DATA / "tiny.tflite", "-o", out_dir, "--prefix", "t")
    assert code == 2 and "--force" in err and header.read_text() == "/* mine */"
    code, _, _ = run_cli("compile", DATA / "tiny.tflite", "-o", out_dir, "--prefix", "t", "--force")
    assert code == 0 and "Generated by mcu-mobilenet" in header.read_text()


def test_validate_cli_exit_codes(run_cli, shared_models, person_detect):
    code, out, _ = run_cli(
        "validate",
        person_detect,
        "--inputs",
        "2",
        "--image",
        shared_models / "person.bmp",
        "--pixels",
        "raw",
    )
    assert code == 0 and "3/3 outputs bit-exact" in out and "[-113, 113]" in out
    code, _, err = run_cli("validate", person_detect, "--inputs", "0")
    assert code == 2 and "nothing to validate" in err


# A firmware that owns its memory: the arena and scratch are its own, garbage-filled before the
# second inference; misplaced memory is refused with the status, not used.
_CALLER_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "pd_model.h"

static int8_t arena[PD_ARENA_SIZE + 16] PD_ALIGNED;
static int8_t scratch[PD_SCRATCH_SIZE + 16] PD_ALIGNED;

int main(int argc, char **argv)
{
    pd_input_t input[PD_INPUT_SIZE];
    pd_output_t first[PD_OUTPUT_SIZE], second[PD_OUTPUT_SIZE];
    FILE *file = fopen(argv[argc - 1], "rb");
    if (file == NULL || fread(input, 1, sizeof input, file) != sizeof input) {
        return 10;
    }
    fclose(file);
    if (pd_init() != PD_STATUS_OK
        || pd_invoke_with(arena + 1, scratch, input, first) != PD_STATUS_BAD_ARENA
        || pd_invoke_with(NULL, scratch, input, first) != PD_STATUS_BAD_ARENA) {
        return 11;
    }
#if PD_SCRATCH_SIZE > 0
    if (pd_invoke_with(arena, NULL, input, first) != PD_STATUS_BAD_SCRATCH
        || pd_invoke_with(arena, scratch + 8, input, first) != PD_STATUS_BAD_SCRATCH) {
        return 12;
    }
#endif
    if (pd_invoke_with(arena, PD_SCRATCH_SIZE > 0 ? scratch : NULL, input, first) != PD_STATUS_OK) {
        return 13;
    }
    memset(arena, 0xA5, sizeof arena);
    memset(scratch, 0x5A, sizeof scratch);
    memcpy(pd_input_buffer_in(arena), input, sizeof input);
    if (pd_invoke_with(arena, scratch, pd_input_buffer_in(arena), second) != PD_STATUS_OK) {
        return 14;
    }
    fwrite(first, 1, sizeof first, stdout);
    fwrite(second, 1, sizeof second, stdout);
    return 0;
}
"""


@pytest.mark.parametrize("backend", ["portable", "native"])
def test_the_caller_can_own_the_arena_and_scratch(tmp_path, person_detect, shared_models, backend):
    result = compile_model(person_detect, tmp_path / "out", prefix="pd", backend=backend)
    assert (result.report()["scratch_bytes"] > 0) == (backend == "native")
    main = tmp_path / "main.c"
    main.write_text(_CALLER_MAIN)
    program = tmp_path / "program"
    sources = [str(s) for s in result.sources]
    includes = [f"-I{d}" for d in result.include_dirs]
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-DPD_CALLER_OWNS_MEMORY"]
    sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    command = ["gcc", *flags, *sanitizers, *includes, str(main), *sources, "-o", str(program)]
    subprocess.run(command, check=True)
    symbols = subprocess.run(["nm", str(program)], capture_output=True, text=True).stdout
    assert "pd_arena" not in symbols and "pd_invoke\n" not in symbols  # no static arena
    image = load_person_image(shared_models / "person.bmp")
    (tmp_path / "person.raw").write_bytes(image.tobytes())
    run = subprocess.run([str(program), str(tmp_path / "person.raw")], capture_output=True)
    assert run.returncode == 0, (run.returncode, run.stderr)
    expected = run_tflm(person_detect, image[np.newaxis])[0].tobytes()
    assert run.stdout == expected + expected
