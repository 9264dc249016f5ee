# SPDX-License-Identifier: Apache-2.0
"""Loads a float image classifier from a Keras 3 `.keras` file, a legacy Keras 2 `.h5` file
or a SavedModel folder, and checks that it is one mcu-mobilenet can handle.

Keras 3 cannot read many `.h5` files that older TensorFlow wrote (it rejects, for example,
DepthwiseConv2D's `groups` argument); tf_keras, the Keras 2 code kept as a package, reads
them as they were written. SavedModel folders that tf_keras wrote (they hold
keras_metadata.pb) load through tf_keras too, so their layers can be checked; other
SavedModels are used through their serving signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.data import ImageSet
from mcu_mobilenet.model.training import predict_in_batches

KERAS_SUFFIXES = (".keras",)
H5_SUFFIXES = (".h5", ".hdf5")

# Layers of a feed-forward CNN classifier that convert to TFLM's int8 builtin ops.
SUPPORTED_LAYERS = frozenset(
    {
        "InputLayer",
        "Conv2D",
        "DepthwiseConv2D",
        "SeparableConv2D",
        "BatchNormalization",
        "ReLU",
        "Activation",
        "ZeroPadding2D",
        "AveragePooling2D",
        "MaxPooling2D",
        "GlobalAveragePooling2D",
        "Dropout",
        "Dense",
        "Softmax",
        "Reshape",
        "Flatten",
        "Add",
    }
)
SUPPORTED_ACTIVATIONS = frozenset({"linear", "relu", "relu6", "softmax"})


@dataclass
class FloatModel:
    path: Path
    framework: str  # "keras" (Keras 3), "tf_keras" (Keras 2) or "saved_model"
    input_shape: tuple[int, int, int]
    classes: int
    network: Any  # the Keras model, or the loaded SavedModel object
    signature: Any = None  # the SavedModel's serving function, for "saved_model"

    @property
    def resolution(self) -> int:
        return self.input_shape[0]

    @property
    def channels(self) -> int:
        return self.input_shape[2]

    def serve(self, batch):
        """Probabilities for a float batch (a tensor), in inference mode."""
        if self.framework == "saved_model":
            (output,) = self.signature(batch).values()
            return output
        return self.network(batch, training=False)

    def predict(self, images: ImageSet) -> np.ndarray:
        return predict_in_batches(self.serve, images)


def model_format(path: Path) -> str:
    """The format of `path`: keras, h5, saved_model or tflite; a one-line error otherwise."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "saved_model"
        raise UserError(f"{path}: a folder without saved_model.pb is not a SavedModel")
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix in H5_SUFFIXES:
        return "h5"
    if suffix == ".tflite":
        return "tflite"
    raise UserError(
        f"{path}: unknown model format {suffix or '(no suffix)'}; give a Keras .keras or .h5 "
        "file, a SavedModel folder or (to evaluate) a .tflite file"
    )


def load_float_model(path: Path) -> FloatModel:
    kind = model_format(path)
    if kind == "tflite":
        raise UserError(f"{path}: a .tflite file is already converted; give the float model")
    if kind == "keras":
        model = _load(path, "Keras 3", _load_keras3)
        framework = "keras"
    elif kind == "h5":
        model = _load(path, "Keras 2 (tf_keras)", _load_tf_keras)
        framework = "tf_keras"
    elif (path / "keras_metadata.pb").is_file():
        model = _load(path, "Keras 2 SavedModel (tf_keras)", _load_tf_keras)
        framework = "tf_keras"
    else:
        return _saved_model(path)
    check_keras_classifier(model, path)
    input_shape = tuple(model.inputs[0].shape[1:])
    return FloatModel(path, framework, input_shape, int(model.outputs[0].shape[-1]), model)


def _load(path: Path, what: str, loader) -> Any:
    try:
        return loader(path)
    except Exception as error:  # noqa: BLE001 - any loader failure is the user's file
        message = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"{path}: cannot load it as a {what} model: {message}") from None


def _load_keras3(path: Path):
    import keras

    return keras.saving.load_model(path, compile=False)


def _load_tf_keras(path: Path):
    import tf_keras

    return tf_keras.models.load_model(path, compile=False)


def _saved_model(path: Path) -> FloatModel:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # noqa: BLE001
        message = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"{path}: cannot load the SavedModel: {message}") from None
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise UserError(f"{path}: the SavedModel has no serving_default signature")
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(
            f"{path}: the serving signature has {len(inputs)} inputs and {len(outputs)} "
            "outputs; an image classifier has one of each"
        )
    (input_name, input_spec), (output_spec,) = next(iter(inputs.items())), outputs.values()
    input_shape = _check_image_input(tuple(input_spec.shape), f"{path} input {input_name!r}")
    classes = _check_class_output(tuple(output_spec.shape), f"{path} output")

    def serving(batch):
        return signature(**{input_name: batch})

    return FloatModel(path, "saved_model", input_shape, classes, loaded, serving)


def check_keras_classifier(model, path: Path) -> None:
    """A single image input, a single class output, and only supported layers."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(
            f"{path}: the model has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; an image classifier has one of each"
        )
    _check_image_input(tuple(model.inputs[0].shape), f"{path} input")
    _check_class_output(tuple(model.outputs[0].shape), f"{path} output")
    for index, layer in enumerate(_flat_layers(model)):
        kind = type(layer).__name__
        if kind not in SUPPORTED_LAYERS:
            raise UserError(
                f"{path}: layer {index} {layer.name!r} ({kind}) is not supported; "
                "mcu-mobilenet handles CNN image classifiers made of "
                "Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, pooling, Dense and Softmax"
            )
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if activation not in SUPPORTED_ACTIVATIONS:
            raise UserError(
                f"{path}: layer {index} {layer.name!r} ({kind}) uses activation "
                f"{activation!r}; supported activations are linear, relu, relu6 and softmax"
            )


def _flat_layers(model) -> list:
    """Layers in order, with nested models opened up."""
    layers = []
    for layer in model.layers:
        if hasattr(layer, "layers") and hasattr(layer, "inputs"):
            layers.extend(_flat_layers(layer))
        else:
            layers.append(layer)
    return layers


def _check_image_input(shape: tuple, where: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] not in (1, 3):
        raise UserError(
            f"{where} has shape {_shape_text(shape)}, not a batch of square images "
            "[N, H, H, C] with C 1 or 3; mcu-mobilenet handles image classifiers"
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def _check_class_output(shape: tuple, where: str) -> int:
    if len(shape) != 2 or shape[1] is None or shape[1] < 2:
        raise UserError(
            f"{where} has shape {_shape_text(shape)}, not class scores [N, classes] with at "
            "least 2 classes"
        )
    return int(shape[1])


def _shape_text(shape: tuple) -> str:
    return "[" + ", ".join("N" if size is None else str(size) for size in shape) + "]"
