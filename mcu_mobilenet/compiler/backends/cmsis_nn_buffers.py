# SPDX-License-Identifier: Apache-2.0
"""Scratch sizes from CMSIS-NN's own *_get_buffer_size functions, not re-derived by hand.

A small C helper (firmware/host/cmsis_nn_buffer_sizes.c) is built with the host gcc against the
CMSIS-NN sources in use and asked, in one run, every layer's size on every code path the
target may use: the unsuffixed functions for plain C, the _dsp and _mve ones for the others.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mcu_mobilenet import processes
from mcu_mobilenet.compiler.backends.cmsis_nn_library import source_closure
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import FIRMWARE_DIR
from mcu_mobilenet.toolchain import HOST_GCC

HELPER_SOURCE = FIRMWARE_DIR / "host" / "cmsis_nn_buffer_sizes.c"
# Kernel -> the CMSIS-NN function that sizes its buffer (the generated init asks it again on
# the device). The helper calls each with its code path's suffix: none (plain C), _dsp, _mve.
BUFFER_SIZE_FUNCTIONS = {
    "arm_convolve_wrapper_s8": "arm_convolve_wrapper_s8_get_buffer_size",
    "arm_depthwise_conv_wrapper_s8": "arm_depthwise_conv_wrapper_s8_get_buffer_size",
    "arm_avgpool_s8": "arm_avgpool_s8_get_buffer_size",
    "arm_fully_connected_s8": "arm_fully_connected_s8_get_buffer_size",
    "arm_fully_connected_per_channel_s8": "arm_fully_connected_s8_get_buffer_size",
}
HELPER_FUNCTIONS = {
    f"{name}{suffix}"
    for name in set(BUFFER_SIZE_FUNCTIONS.values())
    for suffix in ("", "_dsp", "_mve")
}
HOST_CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"]


@dataclass(frozen=True)
class BufferQuery:
    """One call of a *_get_buffer_size function: its kind (conv, depthwise, avgpool, fc) and
    its integer arguments in the order firmware/host/cmsis_nn_buffer_sizes.c reads them."""

    kind: str
    arguments: tuple[int, ...]


def buffer_sizes(
    root: Path, queries: list[BufferQuery], code_paths: tuple[str, ...]
) -> list[dict[str, int]]:
    """For each query, its size in bytes on each code path."""
    if not queries:
        return []
    lines = [
        " ".join([query.kind, path, *map(str, query.arguments)])
        for query in queries
        for path in code_paths
    ]
    with tempfile.TemporaryDirectory(prefix="mcu-cmsis-nn-sizes-") as tmp:
        helper = _build_helper(root, Path(tmp))
        completed = processes.run(
            [str(helper)], input="\n".join(lines) + "\n", capture_output=True, text=True
        )
    if completed.returncode != 0:
        raise RuntimeError(f"CMSIS-NN buffer size helper failed: {completed.stderr.strip()}")
    sizes = [int(value) for value in completed.stdout.split()]
    if len(sizes) != len(lines):
        raise RuntimeError(f"CMSIS-NN buffer size helper answered {len(sizes)} of {len(lines)}")
    count = len(code_paths)
    return [
        dict(zip(code_paths, sizes[i * count : (i + 1) * count], strict=True))
        for i in range(len(queries))
    ]


def _build_helper(root: Path, build_dir: Path) -> Path:
    compiler = shutil.which(HOST_GCC)
    if compiler is None:
        raise UserError(
            "gcc not found: the cmsis-nn backend asks CMSIS-NN for its scratch sizes with a "
            "small host program; install gcc (make setup)"
        )
    executable = build_dir / "cmsis_nn_buffer_sizes"
    sources = [root / path for path in source_closure(root, HELPER_FUNCTIONS)]
    command = [
        compiler,
        *HOST_CFLAGS,
        f"-I{root / 'Include'}",
        str(HELPER_SOURCE),
        *map(str, sources),
        "-o",
        str(executable),
    ]
    completed = processes.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"CMSIS-NN buffer size helper does not build:\n{completed.stderr}")
    return executable
