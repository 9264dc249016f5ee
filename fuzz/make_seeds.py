# SPDX-License-Identifier: Apache-2.0
"""Writes the fuzzer's seed models into fuzz/corpus/ (needs TensorFlow; run from the project
root with `.venv/bin/python fuzz/make_seeds.py`). One small int8 model per op the compiler
supports, made by the tests' own builders, so the fuzzer starts from every lowering path."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import tflite_builders as build  # noqa: E402


def main() -> None:
    corpus = ROOT / "fuzz" / "corpus"
    corpus.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    seeds = {
        "conv_dilated": (build.conv2d(rng, 2, 3, (3, 3), 2, "VALID", 2, "RELU"), (1, 9, 9, 2)),
        "depthwise_x2": (
            build.depthwise(rng, 2, 2, (3, 3), (2, 2), "SAME", 1, "RELU6"),
            (1, 6, 6, 2),
        ),
        "average_pool": (build.average_pool(2, 2, "SAME"), (1, 5, 5, 3)),
        "mean_keepdims": (build.mean(True), (1, 4, 4, 3)),
        "fully_connected": (build.fully_connected(rng, 12, 5, "RELU"), (1, 2, 2, 3)),
        "softmax": (build.softmax(), (1, 10)),
        "pad": (build.pad([[0, 0], [1, 2], [0, 1], [0, 0]]), (1, 3, 3, 2)),
        "add_of_branches": (build.add_of_branches(rng, 3, "RELU"), (1, 4, 4, 3)),
        "conv_squeeze": (build.conv_squeeze(rng, 4), (1, 1, 1, 4)),
    }
    for name, (function, shape) in seeds.items():
        build.convert(function, shape, corpus / f"{name}.tflite", rng)
    float_edges = build.conv2d(rng, 2, 2, (1, 1), 1, "SAME", 1, "NONE")
    build.convert(float_edges, (1, 3, 3, 2), corpus / "float_edges.tflite", rng, int8_io=False)


if __name__ == "__main__":
    main()
