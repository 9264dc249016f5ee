# SPDX-License-Identifier: Apache-2.0
"""The fuzzed front end: bytes -> read -> check -> lower -> plan, writing nothing.

`run_one(data)` returns normally for a compiled model or a UserError with a one-line
message; anything else (another exception, a multi-line message) is a finding.
"""

from __future__ import annotations

from mcu_mobilenet.compiler.compilation import compile_graph
from mcu_mobilenet.compiler.tflite_reader import read_tflite_bytes
from mcu_mobilenet.errors import UserError


class MultiLineMessage(AssertionError):
    """A UserError whose message is not one line."""


def run_one(data: bytes) -> bool:
    """True if the input compiled, False if it was refused with a one-line UserError."""
    try:
        compile_graph(read_tflite_bytes(data, "fuzzed.tflite"))
    except UserError as error:
        if "\n" in str(error) or not str(error).strip():
            raise MultiLineMessage(repr(str(error))[:500]) from error
        return False
    return True
