# SPDX-License-Identifier: Apache-2.0
"""Hand edits of a .tflite file, as a hostile user would make them: values patched in place.

    model = EditableModel(path.read_bytes())
    model.set_scale(tensor=88, value=float("nan"))
    model.save(tmp_path / "nan_scale.tflite")

Every edit keeps the flatbuffer well formed (same sizes, or vectors made shorter), so what is
tested is the compiler's check of the model's meaning, not the reader's bounds checks.
"""

from __future__ import annotations

import struct
from pathlib import Path

from mcu_mobilenet.compiler import tflite_schema as schema
from mcu_mobilenet.compiler.flatbuffer import Table

SOFTMAX_OPTIONS_BETA = 0


class EditableModel:
    def __init__(self, data: bytes):
        self.data = bytearray(data)

    def _root(self) -> Table:
        return Table.root(bytes(self.data))

    def _subgraph(self) -> Table:
        return self._root().tables(schema.MODEL_SUBGRAPHS)[0]

    def tensor(self, index: int) -> Table:
        return self._subgraph().tables(schema.SUBGRAPH_TENSORS)[index]

    def operator(self, index: int) -> Table:
        return self._subgraph().tables(schema.SUBGRAPH_OPERATORS)[index]

    def _vector(self, table: Table, field: int) -> tuple[int, int]:
        found = table.vector_position(field)
        assert found is not None, f"field {field} is absent"
        return found

    def _set_length(self, table: Table, field: int, length: int) -> None:
        start, old = self._vector(table, field)
        assert length <= old, "vectors can only be made shorter in place"
        struct.pack_into("<I", self.data, start - 4, length)

    def set_shape(self, tensor: int, dims: list[int]) -> None:
        """New dimensions; a shorter list lowers the rank (a scalar: [])."""
        table = self.tensor(tensor)
        start, rank = self._vector(table, schema.TENSOR_SHAPE)
        assert len(dims) <= rank, f"tensor {tensor} has rank {rank}"
        struct.pack_into(f"<{len(dims)}i", self.data, start, *dims)
        self._set_length(table, schema.TENSOR_SHAPE, len(dims))

    def _quantization(self, tensor: int) -> Table:
        quant = self.tensor(tensor).table(schema.TENSOR_QUANTIZATION)
        assert quant is not None, f"tensor {tensor} is not quantized"
        return quant

    def set_scale(self, tensor: int, value: float, channel: int = 0) -> None:
        start, _ = self._vector(self._quantization(tensor), schema.QUANT_SCALE)
        struct.pack_into("<f", self.data, start + 4 * channel, value)

    def set_zero_point(self, tensor: int, value: int) -> None:
        start, _ = self._vector(self._quantization(tensor), schema.QUANT_ZERO_POINT)
        struct.pack_into("<q", self.data, start, value)

    def set_op_input_count(self, op: int, count: int) -> None:
        self._set_length(self.operator(op), schema.OPERATOR_INPUTS, count)

    def set_op_input(self, op: int, slot: int, tensor: int) -> None:
        start, _ = self._vector(self.operator(op), schema.OPERATOR_INPUTS)
        struct.pack_into("<i", self.data, start + 4 * slot, tensor)

    def set_operator_count(self, count: int) -> None:
        self._set_length(self._subgraph(), schema.SUBGRAPH_OPERATORS, count)

    def set_softmax_beta(self, op: int, beta: float) -> None:
        options = self.operator(op).table(schema.OPERATOR_OPTIONS)
        position = options.field_position(SOFTMAX_OPTIONS_BETA)
        assert position, "beta is not stored"
        struct.pack_into("<f", self.data, position, beta)

    def shorten_buffer_of(self, tensor: int, by: int) -> None:
        """The tensor's constant data made `by` bytes shorter."""
        buffer_index = self.tensor(tensor).scalar(schema.TENSOR_BUFFER, "I")
        buffer = self._root().tables(schema.MODEL_BUFFERS)[buffer_index]
        _, length = self._vector(buffer, schema.BUFFER_DATA)
        self._set_length(buffer, schema.BUFFER_DATA, length - by)

    def save(self, path: Path) -> Path:
        path.write_bytes(bytes(self.data))
        return path
