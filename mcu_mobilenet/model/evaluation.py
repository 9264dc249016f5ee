# SPDX-License-Identifier: Apache-2.0
"""Top-1 accuracy of a float model (run by TensorFlow) and of an int8 .tflite model (run by
TFLM's reference interpreter, the project's correctness oracle, in a child process)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.data import (
    ImageSet,
    Log,
    log_to_stderr,
    quantize_input,
    to_model_input,
)
from mcu_mobilenet.model.int8_conversion import TfliteSummary
from mcu_mobilenet.model.loading import FloatModel
from mcu_mobilenet.oracle import run_tflm

TFLM_CHUNK = 250  # images per child process run: progress, and bounded temporary files


@dataclass(frozen=True)
class Accuracy:
    top1: float
    correct: int
    images: int

    def as_dict(self) -> dict:
        return asdict(self)


def accuracy_of(outputs: np.ndarray, images: ImageSet) -> Accuracy:
    correct = int(np.sum(np.argmax(outputs, axis=-1) == images.labels))
    return Accuracy(round(correct / len(images), 6), correct, len(images))


def float_accuracy(model: FloatModel, images: ImageSet) -> Accuracy:
    check_classes(model.classes, images, str(model.path))
    return accuracy_of(model.predict(images), images)


def tflite_inputs(summary: TfliteSummary, images: ImageSet) -> np.ndarray:
    """The images as the .tflite input takes them: quantized for int8, floats otherwise."""
    floats = to_model_input(images.images)
    if summary.input.dtype == "float32":
        return floats
    if summary.input.dtype != "int8":
        raise UserError(f"input type {summary.input.dtype} is not supported: int8 or float32")
    return quantize_input(floats, summary.input.scale, summary.input.zero_point)


def tflite_accuracy(
    path: Path, summary: TfliteSummary, images: ImageSet, log: Log = log_to_stderr
) -> Accuracy:
    check_classes(summary.output.shape[-1], images, str(path))
    expected = tuple(summary.input.shape[1:])
    if images.images.shape[1:] != expected:
        raise UserError(
            f"{path}: the data's images are {'x'.join(map(str, images.images.shape[1:]))} but "
            f"the model takes {'x'.join(map(str, expected))}"
        )
    inputs = tflite_inputs(summary, images)
    outputs = []
    for start in range(0, len(inputs), TFLM_CHUNK):
        outputs.append(run_tflm(path, inputs[start : start + TFLM_CHUNK]))
        log(f"tflm: {min(start + TFLM_CHUNK, len(inputs))}/{len(inputs)} images")
    return accuracy_of(np.concatenate(outputs).reshape(len(inputs), -1), images)


def check_classes(model_classes: int, images: ImageSet, where: str) -> None:
    data_classes = len(images.class_names)
    if data_classes > model_classes or int(images.labels.max()) >= model_classes:
        raise UserError(
            f"{where}: the model has {model_classes} classes but the data has {data_classes}; "
            "give data with the classes the model was trained on"
        )
