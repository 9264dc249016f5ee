# SPDX-License-Identifier: Apache-2.0
"""Kernel backends besides the portable kernels: each retargets lowered layers to a library."""
