# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet info`: the layers, mult-adds and parameters of one MobileNetV1 family member."""

from __future__ import annotations

import argparse
import json

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.counting import LayerCost, count_network
from mcu_mobilenet.model.family import MobileNetConfig, parse_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="per-layer shapes, mult-adds and parameters of a MobileNetV1",
        description="Per-layer shapes, mult-adds and parameters of a MobileNetV1, counted as "
        "the MobileNets paper counts them (convolutions and the classifier; weights only).",
    )
    add_family_arguments(parser)
    parser.add_argument("--classes", default="1000", help="number of classes (default 1000)")
    variant = parser.add_argument_group("paper ablations (at most one)")
    variant.add_argument(
        "--full-conv",
        action="store_true",
        help="standard 3x3 convolutions in place of every depthwise-separable block",
    )
    variant.add_argument(
        "--shallow", action="store_true", help="remove the five 14x14x512 separable blocks"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def add_family_arguments(parser: argparse.ArgumentParser) -> None:
    """--alpha, --resolution and --channels, shared with `train`."""
    parser.add_argument("--alpha", default="1.0", help="width multiplier in (0, 1] (default 1.0)")
    parser.add_argument(
        "--resolution",
        default="224",
        help="input height and width: a multiple of 32 from 32 up (default 224)",
    )
    parser.add_argument("--channels", default="3", help="input channels: 1 or 3 (default 3)")


def config_from_args(args: argparse.Namespace, classes: int, dropout: float) -> MobileNetConfig:
    variant = "separable"
    if getattr(args, "full_conv", False) and getattr(args, "shallow", False):
        raise UserError("--full-conv and --shallow are separate ablations: give at most one")
    if getattr(args, "full_conv", False):
        variant = "full-conv"
    elif getattr(args, "shallow", False):
        variant = "shallow"
    return MobileNetConfig(
        alpha=parse_number(args.alpha, "--alpha", float),
        resolution=parse_number(args.resolution, "--resolution", int),
        channels=parse_number(args.channels, "--channels", int),
        classes=classes,
        variant=variant,
        dropout=dropout,
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, parse_number(args.classes, "--classes", int), 0.001)
    count = count_network(config)
    costs, total_macs, total_params = list(count.layers), count.macs, count.params
    if args.json:
        report = {
            "model": {
                "alpha": config.alpha,
                "resolution": config.resolution,
                "channels": config.channels,
                "classes": config.classes,
                "variant": config.variant,
            },
            "macs": total_macs,
            "params": total_params,
            "layers": [_layer_json(cost) for cost in costs],
        }
        print(json.dumps(report, indent=2))
        return 0
    print(config.label)
    print(_table(costs))
    print(
        f"total: {total_macs:,} mult-adds ({_millions(total_macs, 0, 10.0)}), "
        f"{total_params:,} parameters ({_millions(total_params, 1, 0.1)})"
    )
    return 0


def _layer_json(cost: LayerCost) -> dict:
    layer = cost.layer
    return {
        "name": layer.name,
        "type": layer.kind,
        "kernel": layer.kernel,
        "stride": layer.stride,
        "input_shape": list(layer.input_shape),
        "output_shape": list(layer.output_shape),
        "macs": cost.macs,
        "params": cost.params,
    }


def _table(costs: list[LayerCost]) -> str:
    header = ("#", "name", "type", "input", "output", "mult-adds", "params")
    rows = [
        (
            str(index),
            cost.layer.name,
            cost.layer.type_label,
            _shape_text(cost.layer.input_shape),
            _shape_text(cost.layer.output_shape),
            f"{cost.macs:,}",
            f"{cost.params:,}",
        )
        for index, cost in enumerate(costs)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right_aligned = {0, 5, 6}
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(size) for size in shape)


def _millions(value: int, decimals: int, paper_precision_from: float) -> str:
    """In millions to the paper's precision, with two more digits for small networks."""
    millions = value / 1e6
    shown = decimals if millions >= paper_precision_from else decimals + 2
    return f"{millions:.{shown}f}M"
