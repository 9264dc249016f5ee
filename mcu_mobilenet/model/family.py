# SPDX-License-Identifier: Apache-2.0
"""The MobileNetV1 family as the paper defines it: one layer list per (alpha, resolution, ...).

Pure Python (no TensorFlow), so `info` answers instantly and the Keras builder, the counts and
the docs all read the same list.

Width multiplier rule: a layer with C channels in the paper's 1.0 network gets
max(1, floor(alpha * C + 0.5)) channels, i.e. the nearest integer, halves rounding up, at least
one. For the paper's widths (1, 0.75, 0.5, 0.25) every product is already an integer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from mcu_mobilenet.errors import UserError

# (output channels, stride) of the 13 depthwise-separable blocks of the 1.0 network.
SEPARABLE_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
# Blocks 7-11 (1-based): the five 14x14x512 blocks that the paper's shallow variant removes.
SHALLOW_REMOVED_BLOCKS = range(7, 12)
STEM_CHANNELS = 32
RESOLUTION_STEP = 32  # five stride-2 layers: 2**5

LayerKind = Literal["conv", "depthwise", "pointwise", "avgpool", "dropout", "dense", "softmax"]
Variant = Literal["separable", "full-conv", "shallow"]


@dataclass(frozen=True)
class Layer:
    """One layer of the network; shapes are (height, width, channels) or (features,)."""

    name: str
    kind: LayerKind
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel: int = 1
    stride: int = 1

    @property
    def type_label(self) -> str:
        """What the per-layer table shows in its type column."""
        if self.kind in ("conv", "depthwise", "pointwise"):
            return f"{self.kind} {self.kernel}x{self.kernel}/s{self.stride}"
        return {
            "avgpool": "global avg pool",
            "dropout": "dropout",
            "dense": "fully connected",
            "softmax": "softmax",
        }[self.kind]


@dataclass(frozen=True)
class MobileNetConfig:
    alpha: float = 1.0
    resolution: int = 224
    channels: int = 3
    classes: int = 1000
    variant: Variant = "separable"
    dropout: float = 0.001

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_resolution(self.resolution)
        check_channels(self.channels)
        check_classes(self.classes)
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout {self.dropout} is out of range: give a rate in [0, 1)")

    @property
    def rho(self) -> float:
        """The paper's resolution multiplier: resolution / 224."""
        return self.resolution / 224

    @property
    def label(self) -> str:
        variant = "" if self.variant == "separable" else f" {self.variant}"
        return (
            f"MobileNetV1{variant} alpha {self.alpha:g}, "
            f"{self.resolution}x{self.resolution}x{self.channels}, {self.classes} classes"
        )


def scaled_channels(channels: int, alpha: float) -> int:
    """The width multiplier rule (see the module docstring)."""
    return max(1, math.floor(alpha * channels + 0.5))


def mobilenet_layers(config: MobileNetConfig) -> list[Layer]:
    """Every layer of the network in order, with shapes, for a batch of one image."""
    height = config.resolution
    stem = scaled_channels(STEM_CHANNELS, config.alpha)
    layers = [
        Layer("conv1", "conv", (height, height, config.channels), _shape(height // 2, stem), 3, 2)
    ]
    height, channels = height // 2, stem
    for block, (paper_out, stride) in enumerate(SEPARABLE_BLOCKS, start=1):
        if config.variant == "shallow" and block in SHALLOW_REMOVED_BLOCKS:
            continue
        out = scaled_channels(paper_out, config.alpha)
        out_height = height // stride
        before = _shape(height, channels)
        if config.variant == "full-conv":
            layers.append(
                Layer(f"conv_{block}", "conv", before, _shape(out_height, out), 3, stride)
            )
        else:
            middle = _shape(out_height, channels)
            layers.append(Layer(f"conv_dw_{block}", "depthwise", before, middle, 3, stride))
            layers.append(Layer(f"conv_pw_{block}", "pointwise", middle, _shape(out_height, out)))
        height, channels = out_height, out
    layers += [
        Layer("pool", "avgpool", _shape(height, channels), (channels,)),
        Layer("dropout", "dropout", (channels,), (channels,)),
        Layer("logits", "dense", (channels,), (config.classes,)),
        Layer("softmax", "softmax", (config.classes,), (config.classes,)),
    ]
    return layers


def _shape(height: int, channels: int) -> tuple[int, int, int]:
    return (height, height, channels)


def check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, int | float) and 0.0 < alpha <= 1.0):
        raise UserError(f"alpha {alpha} is out of range: give a width multiplier in (0, 1]")


def check_resolution(resolution: int) -> None:
    if resolution < RESOLUTION_STEP or resolution % RESOLUTION_STEP:
        raise UserError(
            f"resolution {resolution} is not supported: give a multiple of {RESOLUTION_STEP} "
            f"from {RESOLUTION_STEP} up (224 is the paper's full resolution)"
        )


def check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise UserError(f"{channels} input channels: give 1 (grayscale) or 3 (RGB)")


def check_classes(classes: int) -> None:
    if classes < 2:
        raise UserError(f"{classes} classes: a classifier needs at least 2")


def parse_number(text: str, option: str, kind: type[int] | type[float]) -> int | float:
    """Command-line numbers, with a one-line error that names the option."""
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise UserError(f"{option} {text!r} is not {what}") from None
