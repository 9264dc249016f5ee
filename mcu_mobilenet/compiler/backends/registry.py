# SPDX-License-Identifier: Apache-2.0
"""The one list of backends. Code elsewhere names a backend only through these constants."""

from __future__ import annotations

from mcu_mobilenet.compiler.backends import cmsis_nn, native, portable
from mcu_mobilenet.compiler.backends.base import Backend
from mcu_mobilenet.errors import UserError

PORTABLE = portable.NAME
NATIVE = native.NAME
CMSIS_NN = cmsis_nn.NAME
REGISTRY: dict[str, Backend] = {
    backend.name: backend for backend in (portable.BACKEND, native.BACKEND, cmsis_nn.BACKEND)
}
DEFAULT = PORTABLE  # without a board: code for any CPU
BOARD_DEFAULT = NATIVE  # on a Cortex-M board: our fastest bit-exact kernels


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get_backend(name: str) -> Backend:
    backend = REGISTRY.get(name)
    if backend is None:
        raise UserError(f"unknown backend {name!r}; choose one of: {', '.join(REGISTRY)}")
    return backend


def default_for_board(board) -> tuple[str, str]:
    """The default backend for a board, and why."""
    if board is None:
        return DEFAULT, "no board given"
    if not board.cpu.lower().startswith("cortex-m"):
        return DEFAULT, f"{board.name}'s {board.cpu} is not a Cortex-M"
    return BOARD_DEFAULT, f"{board.name} is a {board.cpu}"
