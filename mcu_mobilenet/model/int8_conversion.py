# SPDX-License-Identifier: Apache-2.0
"""Full-integer int8 post-training quantization with the TFLite converter.

int8 input and output, int8 activations, per-channel int8 weights (the converter's default
for convolutions), int32 biases, calibrated on a representative set of images. The graph is
traced with a static batch of one, so the converted model has no dynamic-shape ops.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.data import to_model_input
from mcu_mobilenet.model.loading import FloatModel
from mcu_mobilenet.tensor_info import TensorInfo


@dataclass(frozen=True)
class TfliteSummary:
    input: TensorInfo
    output: TensorInfo
    ops: tuple[str, ...]  # op names in execution order

    @property
    def op_counts(self) -> dict[str, int]:
        return {op: self.ops.count(op) for op in sorted(set(self.ops))}


def quantize_int8(model: FloatModel, calibration_images: np.ndarray) -> bytes:
    """The .tflite bytes of `model`, calibrated on uint8 images [N, H, W, C]."""
    import tensorflow as tf

    calibration = to_model_input(calibration_images)

    def representative_data():
        for image in calibration:
            yield [image[np.newaxis]]

    # One route for Keras 3, tf_keras and SavedModel networks: a concrete function with a
    # static batch of one, whose variables the converter freezes into constants. (Keras 3's
    # own SavedModel export takes seconds longer and adds nothing here.)
    batch_of_one = tf.TensorSpec([1, *model.input_shape], tf.float32)
    serve = tf.function(model.serve, input_signature=[batch_of_one])
    with _quiet():
        converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        with _quiet():
            return converter.convert()
    except Exception as error:  # noqa: BLE001 - converter failures come from the model
        message = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        raise UserError(
            f"{model.path}: the TFLite converter cannot make an int8 model of it: {message}"
        ) from None


def summarize_tflite(content: bytes, where: str) -> TfliteSummary:
    """Input/output types and quantization and the op list of a .tflite model."""
    import tensorflow as tf

    try:
        with _quiet():
            interpreter = tf.lite.Interpreter(model_content=content)
    except (ValueError, RuntimeError) as error:
        first = (str(error).strip().splitlines() or ["unreadable"])[0]
        raise UserError(f"{where}: not a readable .tflite model ({first})") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(
            f"{where}: the model has {len(inputs)} inputs and {len(outputs)} outputs; an image "
            "classifier has one of each"
        )
    ops = tuple(op["op_name"] for op in interpreter._get_ops_details())
    return TfliteSummary(_tensor_info(inputs[0]), _tensor_info(outputs[0]), ops)


def _tensor_info(details: dict) -> TensorInfo:
    """TensorInfo of the TFLite interpreter's description of an input or output."""
    scale, zero_point = details["quantization"]
    return TensorInfo(
        tuple(int(size) for size in details["shape"]),
        np.dtype(details["dtype"]).name,
        float(scale),
        int(zero_point),
    )


@contextmanager
def _quiet() -> Iterator[None]:
    """Hides the converter's deprecation notices (Python warnings and absl log lines)."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)
