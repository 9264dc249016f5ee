# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet evaluate`: top-1 accuracy of a float or an int8 (.tflite, via TFLM) model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu_mobilenet.compiler.model_checker import check_model
from mcu_mobilenet.compiler.tflite_reader import read_tflite
from mcu_mobilenet.model.data import load_data
from mcu_mobilenet.model.evaluation import float_accuracy, tflite_accuracy
from mcu_mobilenet.model.family import parse_number
from mcu_mobilenet.model.int8_conversion import summarize_tflite
from mcu_mobilenet.model.loading import load_float_model, model_format
from mcu_mobilenet.model.tf_env import quiet_tensorflow


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="top-1 accuracy of a float or int8 model",
        description="Top-1 accuracy on the data's held-out part (or on all of it with --all): "
        "float models (.keras, .h5, SavedModel) run in TensorFlow, .tflite models in the TFLM "
        "reference interpreter.",
    )
    parser.add_argument("model", help="NAME.keras, NAME.h5, a SavedModel folder or NAME.tflite")
    parser.add_argument("--data", required=True, help="image folder, .npz file, or synthetic[:N]")
    parser.add_argument("--held-out", default="0.2", help="held-out share of the data (0.2)")
    parser.add_argument(
        "--all", action="store_true", help="evaluate every image (for a separate test set)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run, uses_tensorflow=True)


def run(args: argparse.Namespace) -> int:
    held_out = parse_number(args.held_out, "--held-out", float)
    quiet_tensorflow()
    path = Path(args.model)
    if model_format(path) == "tflite":
        # The compiler's checks first: TensorFlow would allocate whatever the file declares.
        check_model(read_tflite(path))
        summary = summarize_tflite(path.read_bytes(), str(path))
        resolution, channels = summary.input.shape[1], summary.input.shape[3]
        kind = f"{summary.input.dtype} .tflite (TFLM)"
    else:
        model = load_float_model(path)
        resolution, channels = model.resolution, model.channels
        kind = f"float ({model.framework})"
    data = load_data(args.data, resolution, channels, held_out)
    images = data.all_images() if args.all else data.held_out
    if model_format(path) == "tflite":
        accuracy = tflite_accuracy(path, summary, images)
    else:
        accuracy = float_accuracy(model, images)
    part = "all" if args.all else "held-out"
    if args.json:
        report = {"model": str(path), "kind": kind, "data": data.source, "part": part}
        print(json.dumps(report | accuracy.as_dict(), indent=2))
    else:
        print(
            f"{path} [{kind}]: top-1 {accuracy.top1:.4f} "
            f"({accuracy.correct}/{accuracy.images} {part} images of {data.source})"
        )
    return 0
