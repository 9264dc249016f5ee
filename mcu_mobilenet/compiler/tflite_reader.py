# SPDX-License-Identifier: Apache-2.0
"""Reads a .tflite file into the IR without importing TensorFlow.

Reading is strict: a truncated or corrupt file, a second subgraph or a sparse tensor gives a
one-line UserError naming the file and the problem. Whether the ops are supported is
lowering's business, not the reader's.
"""

from __future__ import annotations

import hashlib
import math
import struct
from pathlib import Path

import numpy as np

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler import tflite_schema as schema
from mcu_mobilenet.compiler.flatbuffer import FlatBufferError, Table
from mcu_mobilenet.errors import UserError


def read_tflite(path: str | Path) -> ir.Graph:
    path = Path(path)
    try:
        if not path.exists():
            raise UserError(f"{path}: no such file")
        if path.is_dir():
            raise UserError(f"{path}: is a folder; give the path of a .tflite file")
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read the model ({error.strerror})") from None
    return read_tflite_bytes(data, path)


def read_tflite_bytes(data: bytes, path: str | Path = "<bytes>") -> ir.Graph:
    """The model in `data`; `path` names it in the graph and in error messages."""
    path = Path(path)
    if len(data) < 8:
        raise UserError(f"{path}: file is too short to be a .tflite model ({len(data)} bytes)")
    if data[4:8] != schema.FILE_IDENTIFIER:
        raise UserError(
            f"{path}: not a TFLite flatbuffer (identifier {data[4:8]!r}, expected b'TFL3'); "
            "convert the model with `mcu-mobilenet quantize` first"
        )
    try:
        return _read_model(path, data)
    except (FlatBufferError, struct.error, UnicodeDecodeError) as error:
        raise UserError(f"{path}: file is truncated or corrupt ({error})") from None


def _read_model(path: Path, data: bytes) -> ir.Graph:
    model = Table.root(data)
    subgraphs = model.tables(schema.MODEL_SUBGRAPHS)
    if not subgraphs:
        raise FlatBufferError("the model has no subgraph")
    if len(subgraphs) > 1:
        raise UserError(
            f"{path}: the model has {len(subgraphs)} subgraphs; only single-subgraph models "
            "(no control flow) are supported"
        )
    opcodes = [_opcode_name(code) for code in model.tables(schema.MODEL_OPERATOR_CODES)]
    buffers = model.tables(schema.MODEL_BUFFERS)
    graph_table = subgraphs[0]
    tensors = [
        _read_tensor(path, data, index, table, buffers)
        for index, table in enumerate(graph_table.tables(schema.SUBGRAPH_TENSORS))
    ]
    operators = []
    for index, table in enumerate(graph_table.tables(schema.SUBGRAPH_OPERATORS)):
        opcode_index = table.scalar(schema.OPERATOR_OPCODE_INDEX, "I")
        if opcode_index >= len(opcodes):
            raise FlatBufferError(f"operator {index} names opcode {opcode_index}, which is absent")
        opcode = opcodes[opcode_index]
        inputs = table.vector(schema.OPERATOR_INPUTS, "i")
        outputs = table.vector(schema.OPERATOR_OUTPUTS, "i")
        for tensor_index in inputs + outputs:
            if tensor_index >= len(tensors) or tensor_index < -1:
                raise FlatBufferError(
                    f"operator {index} names tensor {tensor_index}, which is absent"
                )
        options = _read_options(opcode, table.table(schema.OPERATOR_OPTIONS))
        operators.append(ir.Operator(index, opcode, inputs, outputs, options))
    graph_inputs = graph_table.vector(schema.SUBGRAPH_INPUTS, "i")
    graph_outputs = graph_table.vector(schema.SUBGRAPH_OUTPUTS, "i")
    for tensor_index in graph_inputs + graph_outputs:
        if not 0 <= tensor_index < len(tensors):
            raise FlatBufferError(f"the graph names tensor {tensor_index}, which is absent")
    return ir.Graph(
        source=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        tensors=tensors,
        operators=operators,
        inputs=graph_inputs,
        outputs=graph_outputs,
    )


def _opcode_name(table: Table) -> str:
    # Old files keep the code in the deprecated int8 field; new ones in both (the larger wins).
    code = max(
        table.scalar(schema.OPCODE_DEPRECATED_BUILTIN, "b"),
        table.scalar(schema.OPCODE_BUILTIN, "i"),
    )
    if code == 32:  # CUSTOM
        return f"CUSTOM:{(_printable(table.string(schema.OPCODE_CUSTOM)) or '?')[:60]}"
    return schema.BUILTIN_OPERATORS.get(code, f"BUILTIN_{code}")


def _read_tensor(
    path: Path, data: bytes, index: int, table: Table, buffers: list[Table]
) -> ir.Tensor:
    name = _printable(table.string(schema.TENSOR_NAME)) or f"tensor_{index}"
    type_code = table.scalar(schema.TENSOR_TYPE, "b")
    dtype = schema.TENSOR_TYPES.get(type_code, f"type_{type_code}")
    shape = tuple(int(d) for d in table.vector(schema.TENSOR_SHAPE, "i"))
    if any(d < 0 for d in shape):
        raise UserError(
            f"{path}: tensor {index} ({name[:80]}) has a dynamic shape {_short(shape)}; "
            "export the model with a fixed batch size of 1"
        )
    if table.table(schema.TENSOR_SPARSITY) is not None:
        raise UserError(
            f"{path}: tensor {index} ({name[:80]}) is sparse; sparse tensors are not supported"
        )
    quantization = _read_quantization(table.table(schema.TENSOR_QUANTIZATION))
    constant = _read_buffer(data, buffers, table.scalar(schema.TENSOR_BUFFER, "I"))
    array = None
    if constant is not None:
        if dtype not in ("float32", "float16", "int32", "uint8", "int64", "int16", "int8", "bool"):
            raise UserError(
                f"{path}: tensor {index} ({name[:80]}) holds constant {dtype} data, "
                "which is not supported"
            )
        item_bytes = np.dtype(dtype).itemsize
        if len(constant) % item_bytes:
            raise UserError(
                f"{path}: tensor {index} ({name[:80]}) has a buffer of {len(constant)} bytes, "
                f"not a whole number of {dtype} values; the model file is corrupt"
            )
        array = np.frombuffer(constant, dtype=np.dtype(dtype))
        expected = math.prod(shape)  # exact: a hostile shape must not wrap around
        if array.size != expected:
            raise FlatBufferError(
                f"tensor {index} ({name[:80]}) has {array.size} values for shape {_short(shape)}"
            )
        array = array.reshape(shape)
    return ir.Tensor(index, name, shape, dtype, quantization, array)


def _read_buffer(data: bytes, buffers: list[Table], buffer_index: int) -> bytes | None:
    if buffer_index == 0:  # buffer 0 is the schema's "no data" sentinel
        return None
    if buffer_index >= len(buffers):
        raise FlatBufferError(f"a tensor names buffer {buffer_index}, which is absent")
    buffer = buffers[buffer_index]
    inline = buffer.bytes_vector(schema.BUFFER_DATA)
    if inline is not None and len(inline):
        return bytes(inline)
    offset = buffer.scalar(schema.BUFFER_OFFSET, "Q")
    size = buffer.scalar(schema.BUFFER_SIZE, "Q")
    if offset > 1 and size:  # data stored after the flatbuffer (models over 2 GB)
        if offset + size > len(data):
            raise FlatBufferError(f"buffer {buffer_index} lies past the end of the file")
        return data[offset : offset + size]
    return None


def _read_quantization(table: Table | None) -> ir.Quantization | None:
    if table is None:
        return None
    scales = table.vector(schema.QUANT_SCALE, "f")
    zero_points = table.vector(schema.QUANT_ZERO_POINT, "q")
    if not scales:
        return None
    if len(zero_points) != len(scales):
        zero_points = (zero_points[0] if zero_points else 0,) * len(scales)
    return ir.Quantization(
        scales=tuple(float(s) for s in scales),
        zero_points=tuple(int(z) for z in zero_points),
        axis=table.scalar(schema.QUANT_DIMENSION, "i"),
    )


def _read_options(opcode: str, table: Table | None) -> ir.Options | None:
    def get(index: int, fmt: str, default=0):
        return table.scalar(index, fmt, default) if table is not None else default

    def activation(index: int) -> str:
        return ir.ACTIVATIONS.get(get(index, "b"), "UNKNOWN")

    def padding() -> str:
        return ir.PADDINGS.get(get(0, "b"), "UNKNOWN")

    match opcode:
        case "CONV_2D":
            return ir.Conv2DOptions(
                padding=padding(),
                stride_w=get(1, "i"),
                stride_h=get(2, "i"),
                activation=activation(3),
                dilation_w=get(4, "i", 1),
                dilation_h=get(5, "i", 1),
            )
        case "DEPTHWISE_CONV_2D":
            return ir.DepthwiseConv2DOptions(
                padding=padding(),
                stride_w=get(1, "i"),
                stride_h=get(2, "i"),
                depth_multiplier=get(3, "i"),
                activation=activation(4),
                dilation_w=get(5, "i", 1),
                dilation_h=get(6, "i", 1),
            )
        case "AVERAGE_POOL_2D" | "MAX_POOL_2D":
            return ir.Pool2DOptions(
                padding=padding(),
                stride_w=get(1, "i"),
                stride_h=get(2, "i"),
                filter_w=get(3, "i"),
                filter_h=get(4, "i"),
                activation=activation(5),
            )
        case "FULLY_CONNECTED":
            return ir.FullyConnectedOptions(
                activation=activation(0),
                weights_format=get(1, "b"),
                keep_num_dims=bool(get(2, "B")),
            )
        case "SOFTMAX":
            return ir.SoftmaxOptions(beta=get(0, "f", 0.0))
        case "ADD":
            return ir.AddOptions(activation=activation(0))
        case "MEAN":
            return ir.ReducerOptions(keep_dims=bool(get(0, "B")))
        case "RESHAPE" | "SQUEEZE" | "PAD" | "QUANTIZE" | "DEQUANTIZE":
            return ir.NoOptions()
    return None


def _short(shape: tuple[int, ...]) -> str:
    text = str(list(shape))
    return text if len(text) <= 60 else text[:57] + "..."


def _printable(name: str | None) -> str | None:
    """Names end up in one-line messages and C comments: no control characters."""
    if name is None:
        return None
    return "".join(ch if ch.isprintable() else "?" for ch in name)
