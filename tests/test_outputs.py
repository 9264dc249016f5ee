# SPDX-License-Identifier: Apache-2.0
"""`compile` writes its outputs all or nothing (issue 16): every check before the first write,
file-system errors as one line naming the path, nothing left behind on failure."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.tflite"
CLI = "import sys; from mcu_mobilenet.cli import main; sys.exit(main(sys.argv[1:]))"


def _one_line_error(code: int, err: str, *fragments: str) -> str:
    message = err.strip()
    assert code == 2, message
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def test_output_under_a_file(tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli("compile", TINY, "-o", tmp_path / "notes.txt" / "out")
    _one_line_error(code, err, "notes.txt is a file")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_output_folder_is_a_file(tmp_path, run_cli):
    (tmp_path / "out").write_text("mine")
    code, _, err = run_cli("compile", TINY, "-o", tmp_path / "out")
    _one_line_error(code, err, "out is a file")


def test_kernels_is_a_file(tmp_path, run_cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kernels").write_text("mine")
    code, _, err = run_cli("compile", TINY, "-o", out)
    _one_line_error(code, err, str(out / "kernels"), "is a file where the output needs a folder")
    assert sorted(p.name for p in out.iterdir()) == ["kernels"]


def test_an_output_file_that_is_a_folder(tmp_path, run_cli):
    (tmp_path / "out" / "model_model.c").mkdir(parents=True)
    code, _, err = run_cli("compile", TINY, "-o", tmp_path / "out", "--force")
    _one_line_error(code, err, "model_model.c is a folder")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model_model.c"]


def test_a_226_character_prefix(tmp_path, run_cli):
    code, _, err = run_cli("compile", TINY, "-o", tmp_path / "out", "--prefix", "p" * 226)
    _one_line_error(code, err, "226 characters", "at most 64")
    assert not (tmp_path / "out").exists()


def test_existing_json_report_is_refused_before_any_source_is_written(tmp_path, run_cli):
    (tmp_path / "report.json").write_text("{}")
    code, _, err = run_cli(
        "compile", TINY, "-o", tmp_path / "out", "--json", tmp_path / "report.json"
    )
    _one_line_error(code, err, "report.json already exists", "--force")
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "report.json").read_text() == "{}"


def test_json_report_under_a_file_is_refused_first(tmp_path, run_cli):
    (tmp_path / "file").write_text("")
    code, _, err = run_cli(
        "compile", TINY, "-o", tmp_path / "out", "--json", tmp_path / "file" / "r.json"
    )
    _one_line_error(code, err, "is a file")
    assert not (tmp_path / "out").exists()


def test_new_nested_folder_and_existing_folder(tmp_path, run_cli):
    nested = tmp_path / "a" / "b" / "out"
    assert run_cli("compile", TINY, "-o", nested)[0] == 0
    assert (nested / "kernels" / "mm_conv.c").is_file()
    assert oct(nested.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    existing = tmp_path / "project"
    existing.mkdir()
    (existing / "main.c").write_text("int main(void) { return 0; }\n")
    assert run_cli("compile", TINY, "-o", existing, "--prefix", "tiny")[0] == 0
    assert (existing / "main.c").is_file() and (existing / "tiny_model.h").is_file()
    assert _leftovers(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_unwritable_folder(tmp_path, run_cli):
    """A folder that may not be written: read-only for a user, immutable for root (who may
    write anywhere else)."""

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode:
            pytest.skip("chattr +i is not available here: root writes into any folder")
    else:
        os.chmod(locked, 0o555)
    try:
        for out in (locked, locked / "new"):
            code, _, err = run_cli("compile", TINY, "-o", out)
            message = _one_line_error(code, err, str(locked), "cannot write")
            assert "Permission denied" in message or "Operation not permitted" in message
            assert list(locked.iterdir()) == []
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        os.chmod(locked, 0o755)


def test_a_write_that_fails_halfway_leaves_nothing(tmp_path, person_detect):
    """The file-size limit stops the weights file part-way (EFBIG): no output folder, and no
    temporary folder, is left."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-c", CLI, "compile", str(person_detect), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )
    _one_line_error(completed.returncode, completed.stderr, "cannot write", "File too large")
    assert sorted(tmp_path.iterdir()) == []
