# SPDX-License-Identifier: Apache-2.0
"""Orchestration: the steps that take a model file to answers from a board.

compile.py writes a model's C sources (compiler, then codegen); firmware.py builds them into
the harness firmware for a board; flashing.py programs a real board; session.py starts the
emulator or opens the serial port and checks the board runs this build; validation.py,
benchmark.py and inputs.py run models there (or on the host) and compare with TFLM.
"""
