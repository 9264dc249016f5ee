# SPDX-License-Identifier: Apache-2.0
"""The fuzzed front end in `make test` (issue 13): the seed corpus compiles, every input a
fuzzer once crashed on (fuzz/regressions/) is now a compiled model or a one-line UserError,
seeded structure-aware mutants of the corpus too, and a short atheris run finds nothing.
`make fuzz` is the long run (README, "Fuzzing")."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import time

import pytest

from mcu_mobilenet.paths import PROJECT_ROOT

FUZZ = PROJECT_ROOT / "fuzz"
sys.path.insert(0, str(FUZZ))

from mutations import mutate  # noqa: E402
from target import run_one  # noqa: E402

SECONDS_PER_INPUT = 10


def _timed(data: bytes) -> bool:
    start = time.monotonic()
    compiled = run_one(data)
    assert time.monotonic() - start < SECONDS_PER_INPUT
    return compiled


def test_the_seed_corpus_compiles():
    seeds = sorted((FUZZ / "corpus").glob("*.tflite"))
    assert len(seeds) >= 10
    for seed in seeds:
        assert _timed(seed.read_bytes()), seed.name


def test_every_past_finding_is_refused_or_compiled():
    for finding in sorted((FUZZ / "regressions").iterdir()):
        _timed(finding.read_bytes())  # raises on anything but success or a one-line UserError


@pytest.mark.parametrize("seed_name", sorted(p.name for p in (FUZZ / "corpus").glob("*.tflite")))
def test_structure_aware_mutants(seed_name):
    data = (FUZZ / "corpus" / seed_name).read_bytes()
    rng = random.Random(seed_name)
    for _ in range(150):
        _timed(mutate(data, rng))


def test_person_detect_mutants(person_detect):
    data = person_detect.read_bytes()
    rng = random.Random(16)
    for _ in range(60):
        _timed(mutate(data, rng))


def test_a_short_atheris_run(tmp_path):
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris not installed (pip install -e '.[test]' installs it)")
    completed = subprocess.run(
        [
            sys.executable,
            str(FUZZ / "fuzz_compiler.py"),
            "-runs=2000",
            "-seed=13",
            f"-timeout={SECONDS_PER_INPUT}",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path),
            str(FUZZ / "corpus"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Done 2000 runs" in completed.stderr
