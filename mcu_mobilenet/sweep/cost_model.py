# SPDX-License-Identifier: Apache-2.0
"""Predicted time per inference of a MobileNet on a board, from per-layer measurements.

The model is linear per kind of layer (standard convolution, depthwise, pointwise, and the
rest): time = a_kind * mult-adds + b_kind * output elements + c_kind * output elements on the
image's edge (where windows are clipped, which kernels handle on a slower path), summed over
the layers. The coefficients are fitted (least squares, non-negative) to per-layer times
measured on the board with the PROFILE command, so the prediction speaks the board's own unit
(emulated instructions or cycles) and reflects its backend's kernels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mcu_mobilenet.compiler.kernel_call import Layer

KINDS = ("conv", "depthwise", "pointwise", "other")


def layer_kind(layer: Layer) -> str:
    if layer.op == "DEPTHWISE_CONV_2D":
        return "depthwise"
    if layer.op == "CONV_2D":
        filter_dims = layer.params.get("filter_dims", (0, 0, 0, 0))
        return "pointwise" if filter_dims[1:3] == (1, 1) else "conv"
    return "other"


FEATURES = 3  # per kind: mult-adds, output elements, output elements on the edge


def layer_features(layer: Layer) -> np.ndarray:
    """The layer's features, placed in the columns of its kind."""
    features = np.zeros(FEATURES * len(KINDS))
    column = FEATURES * KINDS.index(layer_kind(layer))
    features[column] = layer.macs
    features[column + 1] = layer.output.element_count
    features[column + 2] = _edge_outputs(layer)
    return features


def _edge_outputs(layer: Layer) -> int:
    """Output elements whose window crosses the input's edge (0 for unpadded layers)."""
    padding = layer.params.get("padding", (0, 0))
    if padding == (0, 0) or len(layer.output.shape) != 4:
        return 0
    _, height, width, channels = layer.output.shape
    inner_rows = max(height - 2, 0) if padding[0] else height
    inner_cols = max(width - 2, 0) if padding[1] else width
    return (height * width - inner_rows * inner_cols) * channels


@dataclass(frozen=True)
class CostModel:
    coefficients: tuple[float, ...]  # (per mult-add, per output element) for each of KINDS
    time_unit: str
    samples: int  # measured layers it was fitted to

    def predict(self, layers: list[Layer]) -> int:
        return int(
            round(
                sum(
                    float(layer_features(layer) @ self.coefficients)
                    for layer in layers
                    if not layer.alias
                )
            )
        )

    def to_json(self) -> dict:
        return asdict(self)


def fit_cost_model(measurements: list[tuple[Layer, float]], time_unit: str) -> CostModel:
    """Fits the coefficients to (layer, measured time) pairs."""
    rows = [(layer_features(layer), time) for layer, time in measurements if not layer.alias]
    features = np.array([row for row, _ in rows])
    times = np.array([time for _, time in rows])
    coefficients = _non_negative_least_squares(features, times)
    return CostModel(tuple(float(c) for c in coefficients), time_unit, len(rows))


def _non_negative_least_squares(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least squares over the columns that have data, dropping any that come out negative."""
    active = [i for i in range(features.shape[1]) if np.any(features[:, i])]
    while True:
        solution = np.zeros(features.shape[1])
        if active:
            fitted, *_ = np.linalg.lstsq(features[:, active], targets, rcond=None)
            solution[active] = fitted
        negative = [i for i in active if solution[i] < 0]
        if not negative:
            return solution
        active = [i for i in active if i not in negative]
