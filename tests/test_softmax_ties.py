# SPDX-License-Identifier: Apache-2.0
"""mm_softmax_s8 without undefined behaviour (issue 13): rows whose sum of exponentials
reaches 512 (about 512 tied classes) and rows whose int32 sum wraps to 0 (8192 tied
classes), run on the host under UBSan; bit-exact with TFLM wherever TFLM runs the row."""

from __future__ import annotations

import numpy as np
import pytest
import tflite_builders as build

from mcu_mobilenet import oracle
from mcu_mobilenet.compiler.target import HOST
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.validation import build_host_runner, run_host_runner


def _softmax_runner(tmp_path, depth: int):
    path = build.convert(
        build.softmax(),
        (1, depth),
        tmp_path / f"softmax{depth}.tflite",
        np.random.default_rng(depth),
        input_range=(-4, 4),
    )
    result = compile_model(path, tmp_path / "model", "model", force=True, target=HOST)
    return path, result, build_host_runner(result, tmp_path)  # -fsanitize=undefined


def _ties(depth: int, count: int) -> np.ndarray:
    row = np.full((1, depth), -128, dtype=np.int8)
    row[0, :count] = 5
    return row


def test_a_thousand_tied_classes(tmp_path):
    path, result, runner = _softmax_runner(tmp_path, 1000)
    # Below a sum of 512, TFLM runs the row: bit-exact.
    fewer = np.concatenate([_ties(1000, n) for n in (1, 3, 200, 500)])
    ours, _ = run_host_runner(runner, fewer, result.output)
    assert np.array_equal(ours, oracle.run_tflm(path, fewer))
    # From 512 on (510 ties plus the small classes), every probability is at most 1/512 and
    # rounds to 0 (-128); TFLM's gemmlowp asserts on the shift there and aborts.
    many = np.concatenate([_ties(1000, n) for n in (510, 512, 1000)])
    many[-1] = 0  # 1000 ties exactly
    ours, _ = run_host_runner(runner, many, result.output)
    assert np.all(ours == -128)
    with pytest.raises(oracle.OracleError, match="SIGABRT"):
        oracle.run_tflm(path, many[:1])


def test_a_sum_that_wraps_to_zero(tmp_path):
    path, result, runner = _softmax_runner(tmp_path, 8192)
    rows = np.stack([np.full(8192, value, dtype=np.int8) for value in (-128, 0, 127)])
    ours, _ = run_host_runner(runner, rows, result.output)
    assert np.array_equal(ours, oracle.run_tflm(path, rows))
