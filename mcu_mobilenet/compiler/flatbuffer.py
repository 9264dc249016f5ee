# SPDX-License-Identifier: Apache-2.0
"""A minimal, bounds-checked reader of the FlatBuffers binary format (read-only).

Enough for .tflite files: tables with scalar, table, vector and string fields. Every read is
checked against the buffer so that a truncated or corrupt file raises FlatBufferError instead
of returning garbage or crashing.
"""

from __future__ import annotations

import struct


class FlatBufferError(ValueError):
    """The bytes are not a well-formed flatbuffer (truncated or corrupt)."""


class Table:
    """A table at `position` in `data`; fields are addressed by their index in the schema."""

    __slots__ = ("data", "position", "_vtable", "_vtable_size")

    def __init__(self, data: bytes | memoryview, position: int):
        self.data = data
        self.position = position
        vtable = position - _read(data, "<i", position)
        self._vtable = vtable
        self._vtable_size = _read(data, "<H", vtable)
        if self._vtable_size < 4 or self._vtable_size % 2:
            raise FlatBufferError(f"bad vtable size {self._vtable_size} at byte {vtable}")

    @classmethod
    def root(cls, data: bytes | memoryview) -> Table:
        return cls(data, _read(data, "<I", 0))

    def _field(self, index: int) -> int:
        """The absolute position of field `index`, or 0 if the field is absent."""
        entry = 4 + 2 * index
        if entry + 2 > self._vtable_size:
            return 0
        offset = _read(self.data, "<H", self._vtable + entry)
        return self.position + offset if offset else 0

    def field_position(self, index: int) -> int:
        """Where field `index`'s bytes are (0 if absent): for tools that patch a model."""
        return self._field(index)

    def vector_position(self, index: int) -> tuple[int, int] | None:
        """(position of the first element, length) of a vector field, None if absent."""
        return self._vector(index)

    def scalar(self, index: int, fmt: str, default=0):
        position = self._field(index)
        return _read(self.data, "<" + fmt, position) if position else default

    def table(self, index: int) -> Table | None:
        position = self._field(index)
        return Table(self.data, position + _read(self.data, "<I", position)) if position else None

    def _vector(self, index: int) -> tuple[int, int] | None:
        position = self._field(index)
        if not position:
            return None
        start = position + _read(self.data, "<I", position)
        length = _read(self.data, "<I", start)
        return start + 4, length

    def vector(self, index: int, fmt: str) -> tuple:
        """A vector of scalars, as a tuple (empty when absent)."""
        found = self._vector(index)
        if found is None:
            return ()
        start, length = found
        size = struct.calcsize("<" + fmt)
        _check(self.data, start, length * size)
        return struct.unpack_from(f"<{length}{fmt}", self.data, start)

    def bytes_vector(self, index: int) -> memoryview | None:
        found = self._vector(index)
        if found is None:
            return None
        start, length = found
        _check(self.data, start, length)
        return memoryview(self.data)[start : start + length]

    def tables(self, index: int) -> list[Table]:
        found = self._vector(index)
        if found is None:
            return []
        start, length = found
        _check(self.data, start, 4 * length)
        return [
            Table(self.data, start + 4 * i + _read(self.data, "<I", start + 4 * i))
            for i in range(length)
        ]

    def string(self, index: int) -> str | None:
        raw = self.bytes_vector(index)
        return None if raw is None else bytes(raw).decode("utf-8", errors="replace")


def _check(data: bytes | memoryview, position: int, size: int) -> None:
    if position < 0 or size < 0 or position + size > len(data):
        raise FlatBufferError(
            f"read of {size} bytes at byte {position} is past the end ({len(data)} bytes)"
        )


def _read(data: bytes | memoryview, fmt: str, position: int):
    _check(data, position, struct.calcsize(fmt))
    return struct.unpack_from(fmt, data, position)[0]
