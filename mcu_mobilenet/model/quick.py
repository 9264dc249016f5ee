# SPDX-License-Identifier: Apache-2.0
"""A real, briefly trained int8 MobileNet in seconds, for other parts' tests.

Builds the family member, trains it for a few steps on the synthetic data set (enough to give
the softmax a realistic input range: TFLM aborts on an untrained one) and quantizes it
exactly as `mcu-mobilenet quantize` does.
"""

from __future__ import annotations

from pathlib import Path

from mcu_mobilenet.io import write_bytes_atomically
from mcu_mobilenet.model import synthetic
from mcu_mobilenet.model.data import DataSplit, ImageSet
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.int8_conversion import quantize_int8
from mcu_mobilenet.model.keras_builder import build_mobilenet
from mcu_mobilenet.model.loading import FloatModel
from mcu_mobilenet.model.tf_env import quiet_tensorflow
from mcu_mobilenet.model.training import TrainSettings, seed_everything, train_classifier

QUICK_BATCH = 16
QUICK_HELD_OUT = 16
QUICK_CALIBRATION = 32


def make_quantized_mobilenet(
    path: str | Path,
    alpha: float,
    resolution: int,
    channels: int = 3,
    classes: int = 4,
    steps: int = 20,
    seed: int = 0,
) -> Path:
    """Writes an int8 .tflite of MobileNetV1(alpha, resolution, channels, classes) to `path`."""

    quiet_tensorflow()
    config = MobileNetConfig(alpha=alpha, resolution=resolution, channels=channels, classes=classes)
    data = _synthetic_split(config, steps * QUICK_BATCH)
    seed_everything(seed)
    model = build_mobilenet(config)
    settings = TrainSettings(epochs=1, batch_size=QUICK_BATCH, learning_rate=0.01, seed=seed)
    train_classifier(model, data, settings, log=lambda message: None)
    float_model = FloatModel(
        Path(f"<{model.name}>"), "keras", (resolution, resolution, channels), classes, model
    )
    content = quantize_int8(float_model, data.train.images[:QUICK_CALIBRATION])
    path = Path(path)
    write_bytes_atomically(path, content, force=True)
    return path


def _synthetic_split(config: MobileNetConfig, train_count: int) -> DataSplit:
    """The synthetic images with labels folded onto `classes` (orientation mod classes)."""
    names = tuple(f"class_{index}" for index in range(config.classes))

    def images(stream: int, count: int) -> ImageSet:
        pixels, labels = synthetic.synthetic_images(
            stream, count, config.resolution, config.channels
        )
        return ImageSet(pixels, labels % config.classes, names)

    train = images(synthetic.TRAIN_STREAM, train_count)
    held_out = images(synthetic.HELD_OUT_STREAM, QUICK_HELD_OUT)
    return DataSplit("synthetic", train, held_out)
