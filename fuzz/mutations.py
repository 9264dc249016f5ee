# SPDX-License-Identifier: Apache-2.0
"""Mutations of .tflite files that reach past the reader's bounds checks.

Byte flips mostly break the flatbuffer, which the reader refuses at once. These mutations
keep it well formed and change what it means: a tensor's dimension, scale or zero point, an
operator's tensor index, an option's value, a vector's length, written with "interesting"
values (0, -1, huge, NaN, infinity, tiny scales). `field_positions` finds where those values
are with the reader's own flatbuffer tables.
"""

from __future__ import annotations

import random
import struct

from mcu_mobilenet.compiler import tflite_schema as schema
from mcu_mobilenet.compiler.flatbuffer import FlatBufferError, Table

INTEGERS = (0, 1, 2, 3, 4, 7, 8, 16, 255, 256, 1000, 65535, 2**20, 2**31 - 1, -1, -2, -(2**31))
FLOATS = (0.0, -0.0, -0.5, 1.0, 1 / 256, 1e-8, 1e-30, 1e-45, 1e30, 3.4e38)
SPECIAL_FLOATS = (float("nan"), float("inf"), float("-inf"))


def field_positions(data: bytes) -> dict[str, list[int]]:
    """Byte positions of the int32 and float32 values worth mutating, by kind."""
    found: dict[str, list[int]] = {"int": [], "float": [], "length": []}
    try:
        model = Table.root(data)
        graph = model.tables(schema.MODEL_SUBGRAPHS)[0]
        _vector_items(graph, schema.SUBGRAPH_INPUTS, found)
        _vector_items(graph, schema.SUBGRAPH_OUTPUTS, found)
        _vector_items(graph, schema.SUBGRAPH_OPERATORS, found, items=False)
        for tensor in graph.tables(schema.SUBGRAPH_TENSORS):
            _vector_items(tensor, schema.TENSOR_SHAPE, found)
            position = tensor.field_position(schema.TENSOR_BUFFER)
            if position:
                found["int"].append(position)
            quant = tensor.table(schema.TENSOR_QUANTIZATION)
            if quant is not None:
                _vector_items(quant, schema.QUANT_SCALE, found, kind="float")
                _vector_items(quant, schema.QUANT_ZERO_POINT, found, step=8)
                position = quant.field_position(schema.QUANT_DIMENSION)
                if position:
                    found["int"].append(position)
        for op in graph.tables(schema.SUBGRAPH_OPERATORS):
            _vector_items(op, schema.OPERATOR_INPUTS, found)
            _vector_items(op, schema.OPERATOR_OUTPUTS, found)
            options = op.table(schema.OPERATOR_OPTIONS)
            for field in range(8) if options is not None else ():
                position = options.field_position(field)
                if position:
                    found["int"].append(position)
                    found["float"].append(position)
        for buffer in model.tables(schema.MODEL_BUFFERS):
            _vector_items(buffer, schema.BUFFER_DATA, found, items=False)
    except (FlatBufferError, IndexError, struct.error):
        pass
    return found


def _vector_items(
    table: Table, field: int, found: dict, kind: str = "int", step: int = 4, items: bool = True
) -> None:
    vector = table.vector_position(field)
    if vector is None:
        return
    start, length = vector
    found["length"].append(start - 4)
    if items:
        found[kind].extend(start + step * i for i in range(min(length, 64)))


def mutate(data: bytes, rng: random.Random, edits: int | None = None) -> bytes:
    """A copy of `data` with one to four values changed where a model's meaning lies."""
    positions = field_positions(data)
    buffer = bytearray(data)
    for _ in range(edits or rng.randint(1, 4)):
        kind = rng.choice([k for k, v in positions.items() if v] or ["raw"])
        if kind == "raw":
            position = rng.randrange(max(1, len(buffer) - 4)) & ~3
            kind = rng.choice(["int", "float"])
        else:
            position = rng.choice(positions[kind])
        if position + 4 > len(buffer):
            continue
        if kind == "float":
            value = rng.choice(FLOATS + SPECIAL_FLOATS)
            if rng.random() < 0.3:
                value = rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12)
            struct.pack_into("<f", buffer, position, value)
        elif kind == "length":
            (old,) = struct.unpack_from("<I", buffer, position)
            struct.pack_into("<I", buffer, position, rng.randint(0, old) if old else 0)
        else:
            value = rng.choice(INTEGERS) if rng.random() < 0.7 else rng.randint(-100, 100000)
            struct.pack_into("<i", buffer, position, value)
    return bytes(buffer)
