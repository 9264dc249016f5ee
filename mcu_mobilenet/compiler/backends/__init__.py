"""Kernel backends besides the portable kernels: each retargets lowered layers to a library."""
