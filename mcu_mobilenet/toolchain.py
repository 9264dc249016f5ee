# SPDX-License-Identifier: Apache-2.0
"""The names of the external build tools, in one place."""

CROSS_GCC = "arm-none-eabi-gcc"  # compiles the firmware and tells a CPU's CMSIS-NN code path
CROSS_SIZE = "arm-none-eabi-size"  # reads flash and RAM from the firmware's ELF
CROSS_OBJCOPY = "arm-none-eabi-objcopy"  # writes the raw flash image
HOST_GCC = "gcc"  # builds the host runner and the CMSIS-NN buffer size helper
