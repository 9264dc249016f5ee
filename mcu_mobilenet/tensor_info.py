# SPDX-License-Identifier: Apache-2.0
"""What the code outside the model needs to know of a model input or output tensor, and the one
rule for how many bytes a tensor takes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def byte_count(shape: tuple[int, ...], dtype: str) -> int:
    """Bytes of a dense tensor: its elements times the size of its numpy dtype ("int8", ...)."""
    return math.prod(shape) * np.dtype(dtype).itemsize


@dataclass(frozen=True)
class TensorInfo:
    """Shape, element type and affine quantization (real = scale * (q - zero_point); a float
    tensor has scale 1 and zero point 0)."""

    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "int8" or "float32"
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        return byte_count(self.shape, self.dtype)
