# SPDX-License-Identifier: Apache-2.0
"""Kernel backends, peers of each other: each turns the backend-neutral layer specs
(compiler/specs.py) into calls to its own kernels, with its own weight layouts.

    portable.py   plain C99 kernels for every op (firmware/kernels/)
    native.py     our own compile-time specialised kernels (firmware/kernels/native/)
    cmsis_nn.py   CMSIS-NN's kernels (the pinned release, cmsis_nn_release.py)
    registry.py   the one list of backends, their names and the default for a board
"""
