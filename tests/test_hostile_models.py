# SPDX-License-Identifier: Apache-2.0
"""Hand-edited models (issue 16): each is refused by `compile` with exit code 2 and one line
naming the tensor or op, with no traceback and no output folder left, within 60 s and 2 GB of
memory (the command runs in a child process under those resource limits)."""

from __future__ import annotations

import math
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_edits import EditableModel

from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model import synthetic
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.int8_conversion import quantize_int8
from mcu_mobilenet.model.keras_builder import build_mobilenet
from mcu_mobilenet.model.loading import FloatModel
from mcu_mobilenet.model.tf_env import quiet_tensorflow
from mcu_mobilenet.model.training import seed_everything
from mcu_mobilenet.oracle import OracleError, run_tflm

DATA = Path(__file__).parent / "data"
SECONDS = 60
MEMORY_BYTES = 2 * 1024**3

# tiny.tflite (1x6x6x2 input): CONV_2D(0 -> 8), DEPTHWISE_CONV_2D(8 -> 9), MEAN(9 -> 10),
# FULLY_CONNECTED(10 -> 11), SOFTMAX(11 -> 12); tensor 0 is the input, 12 the output.
TINY_CASES = {
    "nan input scale": (lambda m: m.set_scale(0, math.nan), ["tensor 0 (x)", "scale nan"]),
    "infinite scale": (lambda m: m.set_scale(8, math.inf), ["tensor 8", "scale inf"]),
    "zero scale": (lambda m: m.set_scale(9, 0.0), ["tensor 9", "scale 0.0"]),
    "negative input scale": (lambda m: m.set_scale(0, -0.5), ["tensor 0 (x)", "-0.5"]),
    "negative scale of one filter channel": (
        lambda m: m.set_scale(7, -1.0, channel=2),
        ["tensor 7", "scale -1.0 (channel 2)"],
    ),
    "input zero point 1,000,000": (
        lambda m: m.set_zero_point(0, 1_000_000),
        ["tensor 0 (x)", "zero point 1000000", "int8"],
    ),
    "nan softmax beta": (lambda m: m.set_softmax_beta(4, math.nan), ["op 4 (SOFTMAX)", "beta"]),
    "operator without inputs": (
        lambda m: m.set_op_input_count(0, 0),
        ["op 0 (CONV_2D)", "has 0 inputs"],
    ),
    "no operators": (lambda m: m.set_operator_count(0), ["has no operators"]),
    "tensor read before it is produced": (
        lambda m: m.set_op_input(1, 0, 10),
        ["op 1 (DEPTHWISE_CONV_2D)", "reads tensor 10", "before any op produces it"],
    ),
    "scalar FULLY_CONNECTED output": (
        lambda m: m.set_shape(11, []),
        ["op 3 (FULLY_CONNECTED)", "declares output scalar", "1x3"],
    ),
    "bias buffer not a whole number of int32": (
        lambda m: m.shorten_buffer_of(6, 1),
        ["tensor 6", "15 bytes", "int32"],
    ),
    "softmax declared 100000x2": (
        lambda m: m.set_shape(12, [100_000, 3]),
        ["op 4 (SOFTMAX)", "declares output 100000x3 where its inputs give 1x3"],
    ),
    "output of 0x3": (lambda m: m.set_shape(12, [0, 3]), ["tensor 12", "holds no values"]),
    "13,303,809x8x8x3 input": (
        lambda m: m.set_shape(0, [13_303_809, 8, 8, 3]),
        ["tensor 0 (x)", "2,554,331,328 bytes", "cap"],
    ),
    "a 123 GiB activation": (
        lambda m: m.set_shape(9, [1, 2**15, 2**15, 123]),
        ["tensor 9", "bytes", "cap"],
    ),
    "mean declared 4x4": (
        lambda m: m.set_shape(10, [4, 4]),
        ["op 2 (MEAN)", "declares output 4x4 where its inputs give 1x4"],
    ),
    "convolution output larger than its options give": (
        lambda m: m.set_shape(8, [1, 5, 3, 4]),
        ["op 0 (CONV_2D)", "declares output 1x5x3x4 where its inputs give 1x3x3x4"],
    ),
    "softmax input scale too small for TFLM": (
        lambda m: m.set_scale(11, 1e-8),
        ["op 4 (SOFTMAX)", "too small for TFLM's int8 softmax"],
    ),
}

# person_detect.tflite: op 0 DEPTHWISE_CONV_2D reads the input (tensor 88), op 30 SOFTMAX
# writes the output (tensor 87) from the RESHAPE output 31.
PERSON_CASES = {
    "person_detect softmax declared 100000x2": (
        lambda m: m.set_shape(87, [100_000, 2]),
        ["op 30 (SOFTMAX)", "100000x2"],
    ),
    "person_detect nan input scale": (
        lambda m: m.set_scale(88, math.nan),
        ["tensor 88", "scale nan"],
    ),
    "person_detect huge output": (
        lambda m: m.set_shape(87, [65536, 65536]),
        ["tensor 87", "cap"],
    ),
}


def compile_limited(model: Path, out_dir: Path) -> subprocess.CompletedProcess:
    """`mcu-mobilenet compile MODEL -o OUT` in a child limited to SECONDS and MEMORY_BYTES."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_CPU, (SECONDS, SECONDS))

    command = [
        sys.executable,
        "-c",
        "import sys; from mcu_mobilenet.cli import main; sys.exit(main(sys.argv[1:]))",
        "compile",
        str(model),
        "-o",
        str(out_dir),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=SECONDS, preexec_fn=limit
    )


def assert_refused(model: Path, tmp_path: Path, fragments: list[str]) -> None:
    out_dir = tmp_path / "out"
    completed = compile_limited(model, out_dir)
    message = completed.stderr.strip()
    assert completed.returncode == 2, message
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert not out_dir.exists(), "an output folder was left"


@pytest.mark.parametrize("case", sorted(TINY_CASES))
def test_hand_edited_tiny_model_is_refused(tmp_path, case):
    edit, fragments = TINY_CASES[case]
    model = EditableModel((DATA / "tiny.tflite").read_bytes())
    edit(model)
    assert_refused(model.save(tmp_path / "edited.tflite"), tmp_path, fragments)


@pytest.mark.parametrize("case", sorted(PERSON_CASES))
def test_hand_edited_person_detect_is_refused(tmp_path, person_detect, case):
    edit, fragments = PERSON_CASES[case]
    model = EditableModel(person_detect.read_bytes())
    edit(model)
    assert_refused(model.save(tmp_path / "edited.tflite"), tmp_path, fragments)


def test_the_unedited_model_compiles_under_the_same_limits(tmp_path):
    completed = compile_limited(DATA / "tiny.tflite", tmp_path / "out")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "model_model.c").is_file()


def test_a_softmax_scale_tflm_aborts_on_is_refused_by_both(tmp_path):
    """The compiler's refusal is TFLM's: the same edited model makes TFLM abort."""

    model = EditableModel((DATA / "tiny.tflite").read_bytes())
    model.set_scale(11, 1e-8)  # beta x scale x 2^26 = 0.67: QuantizeMultiplierGreaterThanOne
    path = model.save(tmp_path / "small_logits.tflite")
    with pytest.raises(UserError, match="too small for TFLM's int8 softmax"):
        analyze(path)
    with pytest.raises(OracleError, match="died with SIGABRT"):
        run_tflm(path, np.zeros((1, 6, 6, 2), dtype=np.int8))


def test_an_untrained_thousand_class_mobilenet_is_refused_like_tflm_refuses_it(tmp_path, run_cli):
    """Issue 13: `quantize` of an untrained 1000-class MobileNet aborts inside TFLM; the
    compiler refuses the same .tflite, with the reason."""

    quiet_tensorflow()
    config = MobileNetConfig(alpha=0.25, resolution=32, channels=3, classes=1000)
    seed_everything(0)
    model = build_mobilenet(config)  # untrained: its logits hardly vary
    pixels, _ = synthetic.synthetic_images(synthetic.TRAIN_STREAM, 16, 32, 3)
    float_model = FloatModel(Path("<untrained>"), "keras", (32, 32, 3), 1000, model)
    path = tmp_path / "untrained.tflite"
    path.write_bytes(quantize_int8(float_model, pixels))
    assert_refused(path, tmp_path, ["(SOFTMAX)", "too small for TFLM's int8 softmax"])
    with pytest.raises(OracleError, match="SIGABRT"):
        run_tflm(path, np.zeros((1, 32, 32, 3), dtype=np.int8))
    # `quantize` says the same before TFLM would abort, and writes nothing.
    model.save(tmp_path / "untrained.keras")
    output = tmp_path / "quantized.tflite"
    code, _, err = run_cli(
        "quantize", tmp_path / "untrained.keras", "-o", output, "--data", "synthetic:40"
    )
    assert code == 2 and "Traceback" not in err, err  # progress lines, then the error
    assert "too small for TFLM's int8 softmax" in err.strip().splitlines()[-1]
    assert not output.exists() and not output.with_name(output.name + ".json").exists()


def test_evaluate_checks_the_model_before_tensorflow_allocates_it(tmp_path, run_cli):
    model = EditableModel((DATA / "tiny.tflite").read_bytes())
    model.set_shape(0, [13_303_809, 8, 8, 3])
    path = model.save(tmp_path / "huge_input.tflite")
    code, _, err = run_cli("evaluate", path, "--data", "synthetic:40")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "tensor 0 (x)" in err and "cap on activations" in err


def test_an_add_output_scale_tflm_refuses_is_refused(tmp_path):
    """CalculateOpDataAdd needs the output rescaling below one; TFLM aborts otherwise."""

    # fuzz/corpus/add_of_branches.tflite: two CONV_2D (0 -> 5, 0 -> 6), then ADD (5, 6 -> 7).
    seed = Path(__file__).parent.parent / "fuzz" / "corpus" / "add_of_branches.tflite"
    model = EditableModel(seed.read_bytes())
    model.set_scale(7, 1e-8)
    path = model.save(tmp_path / "add.tflite")
    assert_refused(path, tmp_path, ["op 2 (ADD)", "output scale 1e-08", "TFLM refuses it"])
    with pytest.raises(OracleError, match="SIGABRT"):
        run_tflm(path, np.zeros((1, 4, 4, 3), dtype=np.int8))
