# SPDX-License-Identifier: Apache-2.0
"""TensorFlow's start-up chatter (CUDA probes, CPU feature notes, converter statistics) hidden
from command output.

TensorFlow 2.21's C++ code logs through absl straight to file descriptor 2 before anything can
configure it (`TF_CPP_MIN_LOG_LEVEL` no longer silences it), so while a command that uses
TensorFlow runs, descriptor 2 is a pipe whose reader drops those lines and forwards the rest.
`MCU_MOBILENET_TF_LOGS=1` keeps them.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# absl's "I1203 14:46:48.123456   12914 file.cc:31] ..." (before absl is initialised the date
# is 0000 and the time counts seconds since 1970), the notice absl prints about that, and the
# converter's own statistics.
_NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|fully_quantize: \d+, inference_type: )"
)
KEEP_LOGS_VARIABLE = "MCU_MOBILENET_TF_LOGS"
_JOIN_SECONDS = 2.0


def quiet_tensorflow() -> None:
    """Call before TensorFlow is first imported; the user's own setting wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def is_native_log_line(line: bytes) -> bool:
    return _NATIVE_LOG_LINE.match(line) is not None


@contextmanager
def native_logs_hidden() -> Iterator[None]:
    """Descriptor 2 filtered for the duration; every other line reaches the real stderr, in
    order, before this returns."""
    if os.environ.get(KEEP_LOGS_VARIABLE) == "1":
        yield
        return
    sys.stderr.flush()
    real_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(
        target=_forward, args=(read_end, real_stderr), name="stderr-filter", daemon=True
    )
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)  # closes our write end: the reader sees the end of the pipe
        # A child still holding the pipe keeps it open: its lines go on being filtered.
        forwarder.join(_JOIN_SECONDS)
        if not forwarder.is_alive():
            os.close(real_stderr)


def _forward(read_end: int, real_stderr: int) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            kept = [line + b"\n" for line in lines if not is_native_log_line(line)]
            _write_all(real_stderr, b"".join(kept))
        if not is_native_log_line(pending):
            _write_all(real_stderr, pending)


def _write_all(descriptor: int, data: bytes) -> None:
    while data:
        data = data[os.write(descriptor, data) :]
