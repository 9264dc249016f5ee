# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet quantize` and `evaluate`: int8 models TFLM runs, within a small margin of
float accuracy, from every float format; and every error case on one line."""

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
from model_fixtures import (  # noqa: F401
    quantized_mobilenet,
    trained_mobilenet,
)

from mcu_mobilenet.cli import main
from mcu_mobilenet.io import atomic_path
from mcu_mobilenet.model import synthetic
from mcu_mobilenet.model.data import load_data, to_model_input
from mcu_mobilenet.model.tf_env import is_native_log_line
from mcu_mobilenet.oracle import run_tflm

MOBILENET_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
INT8_MARGIN = 0.05


def _one_line(err: str) -> bool:
    """The error is the last line of stderr, after any progress lines, with no traceback."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if ": error: " in line]
    return errors == lines[-1:] and "Traceback" not in err


@pytest.fixture(scope="module")
def quantized(trained_mobilenet, tmp_path_factory):  # noqa: F811
    """(model.tflite, its JSON report, quantize's stdout) for the shared trained model."""

    model, _ = trained_mobilenet
    output = tmp_path_factory.mktemp("quantized") / "model.tflite"
    captured = io.StringIO()
    with redirect_stdout(captured):
        code = main(
            ["quantize", str(model), "-o", str(output), "--data", "synthetic:1500",
             "--calib-samples", "100"]
        )  # fmt: skip
    assert code == 0
    report = json.loads(output.with_name("model.tflite.json").read_text())
    return output, report, captured.getvalue()


def test_quantized_model_is_full_int8_with_the_plain_mobilenet_ops(quantized):
    import tensorflow as tf

    output, report, stdout = quantized
    assert set(report["ops"]) == MOBILENET_OPS
    assert report["ops"]["DEPTHWISE_CONV_2D"] == 13 and report["ops"]["CONV_2D"] == 14
    assert report["input"]["shape"] == [1, 32, 32, 3] and report["input"]["dtype"] == "int8"
    assert report["output"] == {"shape": [1, 4], "dtype": "int8"}
    assert report["calibration_images"] == 100 and report["held_out_images"] == 300
    interpreter = tf.lite.Interpreter(model_path=str(output))
    convolutions = [
        t for t in interpreter.get_tensor_details()
        if t["dtype"] == np.int8 and len(t["shape"]) == 4 and t["shape"][0] > 1
    ]  # fmt: skip
    # Per-channel weights: one scale per output channel of every 1x1 and 3x3 convolution.
    assert convolutions
    for weights in convolutions:
        assert len(weights["quantization_parameters"]["scales"]) == weights["shape"][0]
    assert "int8" in stdout and "float" in stdout and str(output) in stdout


def test_int8_accuracy_is_within_a_small_margin_of_float(quantized, trained_mobilenet):  # noqa: F811
    _, report, _ = quantized
    _, train_stdout = trained_mobilenet
    assert report["float"]["top1"] == pytest.approx(json.loads(train_stdout)["held_out_accuracy"])
    assert report["int8"]["images"] == report["float"]["images"] == 300
    assert abs(report["int8"]["top1"] - report["float"]["top1"]) <= INT8_MARGIN
    assert report["int8"]["top1"] > 0.4


def test_evaluate_runs_the_int8_model_through_tflm(quantized, run_cli):
    output, report, _ = quantized
    code, out, err = run_cli("evaluate", output, "--data", "synthetic:1500", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["kind"] == "int8 .tflite (TFLM)" and result["part"] == "held-out"
    assert {k: result[k] for k in ("top1", "correct", "images")} == report["int8"]
    code, out, err = run_cli("evaluate", output, "--data", "synthetic:40", "--all")
    assert code == 0, err
    assert "/40 all images of synthetic:40" in out


def _legacy_keras2_classifier():
    """A small MobileNet-style classifier built with tf_keras (Keras 2), trained a few steps
    on the synthetic set so its softmax has a realistic range."""
    import tf_keras
    from tf_keras import layers

    tf_keras.utils.set_random_seed(3)
    inputs = tf_keras.Input((32, 32, 1))
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization(momentum=0.5)(x))
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization(momentum=0.5)(x))
    x = layers.Conv2D(16, 1, use_bias=False)(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization(momentum=0.5)(x))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    model = tf_keras.Model(inputs, outputs)
    data = load_data("synthetic:480", 32, 1, log=lambda message: None)
    model.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(to_model_input(data.train.images), data.train.labels, epochs=3, verbose=0)
    return model


@pytest.fixture(scope="module")
def legacy_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("legacy")
    model = _legacy_keras2_classifier()
    model.save(folder / "legacy.h5")
    model.save(folder / "legacy_savedmodel", save_format="tf")
    return folder


def test_keras3_cannot_read_the_legacy_h5_but_quantize_can(legacy_models, run_cli, tmp_path):
    import keras

    h5 = legacy_models / "legacy.h5"
    with pytest.raises(Exception):  # noqa: B017 - the point: Keras 3 fails on this file
        keras.saving.load_model(h5, compile=False)
    output = tmp_path / "legacy.tflite"
    code, out, err = run_cli("quantize", h5, "-o", output, "--data", "synthetic:200", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["source_format"] == "tf_keras"
    assert set(report["ops"]) == MOBILENET_OPS
    assert report["input"]["shape"] == [1, 32, 32, 1] and report["input"]["dtype"] == "int8"
    assert abs(report["int8"]["top1"] - report["float"]["top1"]) <= 0.1
    code, out, err = run_cli("evaluate", h5, "--data", "synthetic:200", "--json")
    assert code == 0, err
    assert json.loads(out)["top1"] == report["float"]["top1"]


def test_savedmodel_folders_quantize(legacy_models, trained_mobilenet, run_cli, tmp_path):  # noqa: F811
    import keras

    # tf_keras SavedModel (with keras_metadata.pb) and a Keras 3 export (signature only).
    model, _ = trained_mobilenet
    export = tmp_path / "exported"
    keras.saving.load_model(model, compile=False).export(export, verbose=False)
    for folder, framework in [
        (legacy_models / "legacy_savedmodel", "tf_keras"),
        (export, "saved_model"),
    ]:
        output = tmp_path / f"{folder.name}.tflite"
        code, out, err = run_cli(
            "quantize", folder, "-o", output, "--data", "synthetic:60", "--calib-samples", "20",
            "--json",
        )  # fmt: skip
        assert code == 0, err
        report = json.loads(out)
        assert report["source_format"] == framework
        assert set(report["ops"]) == MOBILENET_OPS
        assert report["input"]["shape"][0] == 1


def test_quick_helper_makes_int8_mobilenets_tflm_runs(quantized_mobilenet):  # noqa: F811

    for alpha in (0.25, 1.0):
        path = quantized_mobilenet(alpha=alpha, resolution=32)
        images, _ = synthetic.synthetic_images(synthetic.HELD_OUT_STREAM, 8, 32, 3)
        outputs = run_tflm(path, (images.astype(np.int16) - 128).astype(np.int8))
        assert outputs.shape == (8, 4) and outputs.dtype == np.int8
        assert len({tuple(row) for row in outputs}) > 1, "output must depend on the input"
    assert quantized_mobilenet(alpha=0.25, resolution=32) == path.with_name(
        "mobilenet_a0.25_r32_c3_k4_s20_0.tflite"
    )


# ---- errors: one line each, exit code 2, nothing left behind ----


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    """Keras 3 models mcu-mobilenet must refuse: a layer it does not support, a non-image
    input, and a small valid image classifier (for data mismatches)."""
    import keras
    from keras import layers

    folder = tmp_path_factory.mktemp("odd")
    image = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, name="stem")(image)
    x = layers.LayerNormalization(name="norm")(x)
    x = layers.GlobalAveragePooling2D()(x)
    keras.Model(image, layers.Dense(4, activation="softmax")(x)).save(folder / "norm.keras")
    vector = keras.Input((10,))
    keras.Model(vector, layers.Dense(3, activation="softmax")(vector)).save(folder / "vec.keras")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(image))
    keras.Model(image, layers.Dense(2, activation="softmax")(x)).save(folder / "two.keras")
    return folder


def _npz(path, shape):
    np.savez(path, images=np.zeros(shape, np.uint8), labels=np.arange(shape[0]) % 2)
    return path


@pytest.mark.parametrize(
    "model, data, words",
    [
        ("absent.keras", "synthetic:20", "no such file or folder"),
        ("model.onnx", "synthetic:20", "unknown model format .onnx"),
        ("empty_folder", "synthetic:20", "without saved_model.pb is not a SavedModel"),
        ("garbage.keras", "synthetic:20", "cannot load it as a Keras 3 model"),
        ("garbage.h5", "synthetic:20", "cannot load it as a Keras 2 (tf_keras) model"),
        ("norm.keras", "synthetic:20", "layer 2 'norm' (LayerNormalization) is not supported"),
        ("vec.keras", "synthetic:20", "input has shape [N, 10], not a batch of square images"),
        ("two.keras", "big.npz", "images of shape 64x64x3 do not match the model's input 32x32x3"),
        ("two.keras", "synthetic:20", "the model has 2 classes but the data has 4"),
    ],
)
def test_quantize_errors_are_one_line_and_leave_nothing(
    odd_models, run_cli, tmp_path, model, data, words
):
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "garbage.keras").write_bytes(b"not a zip")
    (tmp_path / "garbage.h5").write_bytes(b"not hdf5")
    _npz(tmp_path / "big.npz", (4, 64, 64, 3))
    model_path = odd_models / model if (odd_models / model).exists() else tmp_path / model
    data_arg = str(tmp_path / data) if data.endswith(".npz") else data
    before = sorted(os.listdir(tmp_path))
    code, out, err = run_cli(
        "quantize", model_path, "-o", tmp_path / "out.tflite", "--data", data_arg
    )
    assert code == 2 and out == ""
    assert _one_line(err) and words in err, err
    assert sorted(os.listdir(tmp_path)) == before


def test_quantize_refuses_existing_outputs_unless_forced(odd_models, run_cli, tmp_path):
    output = tmp_path / "out.tflite"
    output.write_bytes(b"keep me")
    code, _, err = run_cli(
        "quantize", odd_models / "two.keras", "-o", output, "--data", "synthetic:8"
    )
    assert code == 2 and _one_line(err) and "exists" in err and "--force" in err
    assert output.read_bytes() == b"keep me"
    (tmp_path / "other.tflite.json").write_text("{}")
    code, _, err = run_cli(
        "quantize", odd_models / "two.keras", "-o", tmp_path / "other.tflite", "--data", "x"
    )
    assert code == 2 and "other.tflite.json already exists" in err


@pytest.mark.parametrize(
    "args, words",
    [
        (["-o", "out.bin"], "name it NAME.tflite"),
        (["--calib-samples", "0"], "at least one calibration image"),
        (["--calib-samples", "many"], "--calib-samples 'many' is not an integer"),
    ],
)
def test_quantize_rejects_bad_options_with_one_line(odd_models, run_cli, tmp_path, args, words):
    code, out, err = run_cli(
        "quantize", odd_models / "two.keras", "-o", tmp_path / "m.tflite", "--data", "synthetic:8",
        *args,
    )  # fmt: skip
    assert code == 2 and _one_line(err) and words in err


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("absent.tflite", None, "no such file or folder"),
        ("model.pt", b"torch", "unknown model format .pt"),
        ("broken.tflite", b"\x00" * 64, "not a TFLite flatbuffer"),  # the compiler's reader
    ],
)
def test_evaluate_errors_are_one_line(run_cli, tmp_path, name, content, words):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    code, out, err = run_cli("evaluate", tmp_path / name, "--data", "synthetic:8")
    assert code == 2 and out == "" and _one_line(err) and words in err, err


def test_evaluate_rejects_data_of_another_shape(quantized_mobilenet, run_cli, tmp_path):  # noqa: F811
    model = quantized_mobilenet(alpha=0.25, resolution=32)
    data = _npz(tmp_path / "small.npz", (4, 16, 16, 3))
    code, _, err = run_cli("evaluate", model, "--data", data)
    assert code == 2 and _one_line(err) and "do not match the model's input 32x32x3" in err


def test_atomic_outputs_leave_nothing_when_the_writer_fails(tmp_path):

    target = tmp_path / "model.tflite"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"new but unfinished")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [target.name]


# The child imports TensorFlow (whose C++ logs go straight to descriptor 2), then writes an
# ordinary line on descriptor 2 and one through sys.stderr.
_NOISY_CHILD = """
import os, sys
from mcu_mobilenet.model.tf_env import native_logs_hidden, quiet_tensorflow
quiet_tensorflow()
with native_logs_hidden():
    import tensorflow as tf
    tf.constant(1) + 1
    os.write(2, b"W0000 00:00:1796312319.062794   21807 cuda_platform.cc:52] probe\\nkept 1\\n")
    print("kept 2", file=sys.stderr)
print("kept 3", file=sys.stderr)
"""


@pytest.mark.parametrize("keep", [False, True])
def test_tensorflow_native_logs_are_hidden_and_everything_else_kept(keep):
    environment = dict(os.environ, MCU_MOBILENET_TF_LOGS="1" if keep else "0")
    child = subprocess.run(
        [sys.executable, "-c", _NOISY_CHILD], capture_output=True, text=True, env=environment
    )
    assert child.returncode == 0, child.stderr
    lines = child.stderr.splitlines()
    assert [line for line in lines if line.startswith("kept")] == ["kept 1", "kept 2", "kept 3"]
    native = [line for line in lines if is_native_log_line(line.encode())]
    assert (len(native) >= 2) if keep else (native == [])  # the probe line and TF's own
