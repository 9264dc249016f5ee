# SPDX-License-Identifier: Apache-2.0
"""mcu-mobilenet: MobileNets on microcontrollers."""

__version__ = "0.1.0"
