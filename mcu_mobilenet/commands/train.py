# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet train`: trains a MobileNetV1 of any width and resolution on a data set."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from mcu_mobilenet.commands import arguments
from mcu_mobilenet.commands.info import add_family_arguments, config_from_args
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import atomic_path, refuse_existing, report_path, write_json
from mcu_mobilenet.model.counting import count_network
from mcu_mobilenet.model.data import DataSplit, load_data
from mcu_mobilenet.model.family import MobileNetConfig, parse_number
from mcu_mobilenet.model.keras_builder import build_mobilenet
from mcu_mobilenet.model.tf_env import quiet_tensorflow
from mcu_mobilenet.model.training import (
    EpochMetrics,
    TrainSettings,
    seed_everything,
    train_classifier,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a MobileNetV1 (Keras) on an image folder or the synthetic data set",
        description="Train a MobileNetV1 of width alpha at the given resolution; writes the "
        "Keras 3 model and, beside it, MODEL.keras.json with the per-epoch metrics.",
    )
    add_family_arguments(parser)
    parser.add_argument(
        "--data",
        required=True,
        help="image folder (one subfolder per class), .npz file, or synthetic[:N]",
    )
    parser.add_argument("--epochs", default="10", help="passes over the data (default 10)")
    parser.add_argument("--batch-size", default="32", help="images per step (default 32)")
    parser.add_argument(
        "--learning-rate",
        type=arguments.POSITIVE,
        default=0.005,
        help="Adam's initial rate, cosine-decayed (0.005)",
    )
    parser.add_argument("--dropout", default="0.001", help="dropout before the classifier")
    parser.add_argument(
        "--held-out", default="0.2", help="share of the data kept for validation (default 0.2)"
    )
    parser.add_argument(
        "--seed", type=arguments.SEED, default=0, help="weights, shuffling and dropout (default 0)"
    )
    parser.add_argument("--full-conv", action="store_true", help="paper ablation: full convs")
    parser.add_argument("--shallow", action="store_true", help="paper ablation: 5 blocks fewer")
    parser.add_argument("-o", "--output", required=True, help="the model file, NAME.keras")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(run=run, uses_tensorflow=True)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix != ".keras":
        raise UserError(f"-o {output}: train writes Keras 3 models; name the output NAME.keras")
    refuse_existing([output, report_path(output)], args.force)
    settings = _settings(args)
    held_out = parse_number(args.held_out, "--held-out", float)
    dropout = parse_number(args.dropout, "--dropout", float)
    # Classes come from the data; 2 stands in while the other values are checked.
    config = config_from_args(args, classes=2, dropout=dropout)

    quiet_tensorflow()

    data = load_data(args.data, config.resolution, config.channels, held_out)
    config = replace(config, classes=len(data.class_names))
    seed_everything(settings.seed)
    model = build_mobilenet(config)
    start = time.perf_counter()
    history = train_classifier(model, data, settings)
    seconds = time.perf_counter() - start
    report = _report(output, config, data, settings, history, seconds)
    with atomic_path(output) as temporary:
        model.save(temporary)
    write_json(report_path(output), report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{config.label}: held-out accuracy {report['held_out_accuracy']:.4f} on "
            f"{len(data.held_out)} images; wrote {output} and {report_path(output)}"
        )
    return 0


def _settings(args: argparse.Namespace) -> TrainSettings:
    settings = TrainSettings(
        epochs=parse_number(args.epochs, "--epochs", int),
        batch_size=parse_number(args.batch_size, "--batch-size", int),
        learning_rate=parse_number(args.learning_rate, "--learning-rate", float),
        seed=parse_number(args.seed, "--seed", int),
    )
    if settings.epochs < 1 or settings.batch_size < 1 or not settings.learning_rate > 0:
        raise UserError("--epochs, --batch-size and --learning-rate must be positive")
    return settings


def _report(
    output: Path,
    config: MobileNetConfig,
    data: DataSplit,
    settings: TrainSettings,
    history: list[EpochMetrics],
    seconds: float,
) -> dict:
    count = count_network(config)
    return {
        "model": str(output),
        "family": {
            "alpha": config.alpha,
            "resolution": config.resolution,
            "channels": config.channels,
            "classes": config.classes,
            "variant": config.variant,
            "dropout": config.dropout,
            "macs": count.macs,
            "params": count.params,
        },
        "data": {
            "source": data.source,
            "class_names": list(data.class_names),
            "train_images": len(data.train),
            "held_out_images": len(data.held_out),
        },
        "training": {
            "epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate,
            "seed": settings.seed,
            "seconds": round(seconds, 3),
        },
        "history": [epoch.as_dict() for epoch in history],
        "held_out_accuracy": history[-1].held_out_accuracy,
    }
