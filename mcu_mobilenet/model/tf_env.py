# SPDX-License-Identifier: Apache-2.0
"""TensorFlow's start-up chatter (CUDA probes, CPU feature notes) hidden from command output."""

import os


def quiet_tensorflow() -> None:
    """Call before TensorFlow is first imported; the user's own setting wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
