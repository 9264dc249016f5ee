# SPDX-License-Identifier: Apache-2.0
"""Coverage-guided fuzzing (atheris, libFuzzer) of the .tflite reader and compiler front end.

    python fuzz/fuzz_compiler.py [libFuzzer options] CORPUS_DIR [SEED_DIR ...]

Every input is read, checked, lowered and planned (fuzz/target.py); a finding is any
exception other than a one-line UserError, a hang past -timeout, or memory past
-rss_limit_mb. Half of the mutations are libFuzzer's own byte-level ones, half keep the
flatbuffer well formed and change what it means (fuzz/mutations.py). `make fuzz` runs it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["mcu_mobilenet"]):  # coverage of the compiler
    from mutations import mutate
    from target import run_one


def test_one_input(data: bytes) -> None:
    run_one(data)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if not data or rng.random() < 0.5:
        return atheris.Mutate(data, max_size)
    return mutate(data, rng)[:max_size]


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
