# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet quantize`: full-integer int8 .tflite from a float model, with accuracies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu_mobilenet.compiler.model_checker import check_model
from mcu_mobilenet.compiler.tflite_reader import read_tflite_bytes
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import atomic_path, refuse_existing, report_path, write_json
from mcu_mobilenet.model.data import load_data, log_to_stderr
from mcu_mobilenet.model.evaluation import check_classes, float_accuracy, tflite_accuracy
from mcu_mobilenet.model.family import parse_number
from mcu_mobilenet.model.int8_conversion import quantize_int8, summarize_tflite
from mcu_mobilenet.model.loading import load_float_model
from mcu_mobilenet.model.tf_env import quiet_tensorflow

DEFAULT_CALIBRATION_SAMPLES = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quantize",
        help="int8 post-training quantization to .tflite (int8 input and output)",
        description="Convert a float image classifier (.keras, legacy Keras 2 .h5, SavedModel "
        "folder) to a full-integer int8 .tflite calibrated on the data's training part, and "
        "report float and int8 (TFLM) top-1 accuracy on its held-out part; writes OUTPUT.json "
        "beside the model.",
    )
    parser.add_argument("model", help="the float model: NAME.keras, NAME.h5 or a SavedModel folder")
    parser.add_argument("-o", "--output", required=True, help="the int8 model, NAME.tflite")
    parser.add_argument("--data", required=True, help="image folder, .npz file, or synthetic[:N]")
    parser.add_argument(
        "--calib-samples",
        default=str(DEFAULT_CALIBRATION_SAMPLES),
        help=f"calibration images (default {DEFAULT_CALIBRATION_SAMPLES})",
    )
    parser.add_argument("--held-out", default="0.2", help="held-out share of the data (0.2)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run, uses_tensorflow=True)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix != ".tflite":
        raise UserError(f"-o {output}: quantize writes TFLite models; name it NAME.tflite")
    refuse_existing([output, report_path(output)], args.force)
    samples = parse_number(args.calib_samples, "--calib-samples", int)
    if samples < 1:
        raise UserError(f"--calib-samples {samples}: give at least one calibration image")
    held_out = parse_number(args.held_out, "--held-out", float)

    quiet_tensorflow()
    model = load_float_model(Path(args.model))
    data = load_data(args.data, model.resolution, model.channels, held_out)
    check_classes(model.classes, data.train, str(model.path))
    calibration = data.train.first(samples)
    log_to_stderr(f"quantize: calibrating on {len(calibration)} images")
    content = quantize_int8(model, calibration.images)
    # The compiler's checks, which include what TFLM aborts on (an untrained model's softmax).
    check_model(read_tflite_bytes(content, output))
    summary = summarize_tflite(content, str(output))
    log_to_stderr(f"quantize: float accuracy on {len(data.held_out)} held-out images")
    float_result = float_accuracy(model, data.held_out)
    with atomic_path(output) as temporary:
        temporary.write_bytes(content)
        int8_result = tflite_accuracy(temporary, summary, data.held_out)
        report = {
            "model": str(output),
            "source_model": str(model.path),
            "source_format": model.framework,
            "data": data.source,
            "calibration_images": len(calibration),
            "held_out_images": len(data.held_out),
            "float": float_result.as_dict(),
            "int8": int8_result.as_dict(),
            "input": {
                "shape": list(summary.input.shape),
                "dtype": summary.input.dtype,
                "scale": summary.input.scale,
                "zero_point": summary.input.zero_point,
            },
            "output": {"shape": list(summary.output.shape), "dtype": summary.output.dtype},
            "ops": summary.op_counts,
            "bytes": len(content),
        }
        write_json(report_path(output), report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{output}: {len(content):,} bytes, ops {', '.join(summary.op_counts)}\n"
            f"top-1 on {len(data.held_out)} held-out images: float {float_result.top1:.4f}, "
            f"int8 {int8_result.top1:.4f} (TFLM)"
        )
    return 0
