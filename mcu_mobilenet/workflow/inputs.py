# SPDX-License-Identifier: Apache-2.0
"""A model's inputs: seeded random tensors and image files, as the model takes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.data import quantize_input, read_image, to_model_input
from mcu_mobilenet.tensor_info import TensorInfo

PIXEL_FORMATS = ("model", "raw")


def random_inputs(info: TensorInfo, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (count, *info.shape[1:]) if info.shape and info.shape[0] == 1 else (count, *info.shape)
    if info.dtype == "float32":
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def image_input(path: Path, info: TensorInfo, pixel_format: str = "model") -> np.ndarray:
    """One image as the model's input.

    model: pixels scaled to [-1, 1] as mcu-mobilenet's training feeds them, then quantized with
    the input's scale and zero point. raw: pixel bytes reinterpreted as int8 values (how
    TFLM's person detection example feeds its test images).
    """
    if len(info.shape) != 4:
        raise UserError(f"--image needs a model with an NHWC image input, not {list(info.shape)}")
    _, height, width, channels = info.shape
    try:
        pixels = read_image(path, height, width, channels)
    except FileNotFoundError:
        raise UserError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable image ({error})") from None
    if pixel_format == "raw":
        if info.dtype != "int8":
            raise UserError("--pixels raw needs a model with int8 input")
        return pixels.view(np.int8)
    real = to_model_input(pixels)
    if info.dtype == "float32":
        return real
    return quantize_input(real, info.scale, info.zero_point)


def make_samples(
    info: TensorInfo, count: int, images: list[Path], seed: int, pixel_format: str
) -> tuple[np.ndarray, list[str]]:
    """`count` seeded random inputs then the images, as one array, with a name for each."""
    if count < 0:
        raise UserError("--inputs must be 0 or more")
    if count == 0 and not images:
        raise UserError("nothing to run: give --inputs N (N > 0) or --image FILE")
    parts = [random_inputs(info, count, seed)]
    names = [f"random #{i} (seed {seed})" for i in range(count)]
    for path in images:
        parts.append(image_input(Path(path), info, pixel_format)[np.newaxis])
        names.append(str(path))
    return np.concatenate(parts), names
