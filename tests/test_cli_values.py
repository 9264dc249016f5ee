# SPDX-License-Identifier: Apache-2.0
"""Command-line values are checked when they are parsed (issue 16): non-finite, negative or
out-of-range numbers, overlong names and images too large to decode are usage errors naming
the option or file, never a traceback or a value silently ignored."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TINY = str(DATA / "tiny.tflite")

CASES = [
    (["validate", TINY, "--seed", "-5"], "--seed", "-5 is not between 0 and 4294967295"),
    (["train", "--data", "synthetic", "-o", "m.keras", "--seed", "-5"], "--seed", "-5"),
    (["sweep", "-o", "sw", "--seed", "-1"], "--seed", "-1"),
    (["select", "--max-ram", "nan"], "--max-ram", "not a finite number"),
    (["select", "--max-ram", "inf"], "--max-ram", "not a finite number"),
    (["select", "--max-time", "nan"], "--max-time", "not a finite number"),
    (["select", "--max-flash", "0"], "--max-flash", "greater than 0"),
    (["select", "--clock-mhz", "-3"], "--clock-mhz", "greater than 0"),
    (["run", TINY, "--timeout", "-1"], "--timeout", "greater than 0"),
    (["validate", TINY, "--board", "b", "--timeout", "nan"], "--timeout", "finite"),
    (["run", TINY, "--board", "x" * 5000], "--board", "at most 4096"),
    (["compile", TINY, "-o", "out", "--board", "y" * 300], "--board", "at most 255"),
    (["bench", TINY, "--runs", "0"], "--runs", "between 1 and 101"),
    (["validate", TINY, "--inputs", "-2"], "--inputs", "0 or more"),
    (
        ["train", "--data", "synthetic", "-o", "m.keras", "--learning-rate", "inf"],
        "--learning",
        "finite",
    ),
    (["sweep", "-o", "sw", "--jobs", "0"], "--jobs", "1 or more"),
]


@pytest.mark.parametrize(
    "argv", [case[0] for case in CASES], ids=[" ".join(c[0])[:60] for c in CASES]
)
def test_bad_values_are_usage_errors(run_cli, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    option, fragment = next((o, f) for a, o, f in CASES if a == argv)
    code, out, err = run_cli(*argv)
    assert code == 2 and "Traceback" not in err
    error_line = err.strip().splitlines()[-1]
    assert f"argument {option}" in error_line and fragment in error_line, error_line
    assert list(tmp_path.iterdir()) == []  # nothing was written


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares width x height (its pixel data is never reached)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("size", [(20000, 20000), (9000, 9000)])
def test_huge_image_is_refused_before_decoding(run_cli, tmp_path, size):
    image = _png_header(tmp_path / "huge.png", *size)
    code, _, err = run_cli("validate", TINY, "--image", image, "--inputs", "0")
    message = err.strip()
    assert code == 2 and len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert "huge.png" in message and "pixels; resize it first" in message
