# SPDX-License-Identifier: Apache-2.0
"""What the generated code will run on, as far as kernel choice and scratch sizes care.

CMSIS-NN picks its code path from the compiler's own feature macros: Helium (MVE) when
__ARM_FEATURE_MVE has its integer bit, else the DSP extension when __ARM_FEATURE_DSP is 1, else
plain C (which is also what the host gcc builds). A board's features are read from the cross
compiler with the board's exact flags, so they always match what the firmware build compiles.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.toolchain import CROSS_GCC

PLAIN, DSP, MVE, ANY = "plain", "dsp", "mve", "any"
CODE_PATHS = (PLAIN, DSP, MVE)  # CMSIS-NN's three implementations of each kernel
CODE_PATH_NAMES = {PLAIN: "plain C", DSP: "DSP", MVE: "Helium"}


@dataclass(frozen=True)
class Target:
    name: str  # a board's name, "host", or "any Cortex-M"
    features: str  # one of CODE_PATHS, or ANY when the code must run on every one of them

    def describe(self) -> str:
        if self.features == ANY:
            return f"{self.name} (plain C, DSP or Helium code: sized for the largest need)"
        return f"{self.name} ({CODE_PATH_NAMES[self.features]} code)"

    @property
    def code_paths(self) -> tuple[str, ...]:
        """CMSIS-NN code paths the generated code may be built with."""
        return CODE_PATHS if self.features == ANY else (self.features,)


HOST = Target("host", PLAIN)
ANY_CORTEX_M = Target("any Cortex-M", ANY)


def board_target(board) -> Target:
    """The board's CMSIS-NN code path, from the cross compiler's macros for its flags."""
    if shutil.which(CROSS_GCC) is None:
        raise UserError(
            f"{CROSS_GCC} not found: it tells which CMSIS-NN code path {board.name} uses; "
            "install the Arm GNU toolchain (Debian: apt-get install gcc-arm-none-eabi)"
        )
    command = [CROSS_GCC, "-mthumb", *board.cpu_flags, "-dM", "-E", "-x", "c", "-"]
    completed = subprocess.run(command, input="", capture_output=True, text=True)
    if completed.returncode != 0:
        message = (completed.stderr.strip().splitlines() or ["no output"])[0]
        raise UserError(f"{board.name}'s CPU flags are not accepted by {CROSS_GCC}: {message}")
    macros = {}
    for line in completed.stdout.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] == "#define":
            macros[parts[1]] = parts[2]
    if int(macros.get("__ARM_FEATURE_MVE", "0"), 0) & 1:
        features = MVE
    elif macros.get("__ARM_FEATURE_DSP") == "1":
        features = DSP
    else:
        features = PLAIN
    return Target(board.name, features)
