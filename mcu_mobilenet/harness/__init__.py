# SPDX-License-Identifier: Apache-2.0
"""Host side of the firmware harness: the framed protocol, serial ports, emulators."""
