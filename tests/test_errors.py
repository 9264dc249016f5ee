# SPDX-License-Identifier: Apache-2.0
"""One error type for what a user can cause, and bugs that say they are bugs (issue 13):
a UserError is one line and exit code 2; anything else is an internal error that names
itself a bug, says where to report it and keeps its traceback in a file; CMSIS-NN's own
undefined behaviour is a known issue on one line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from model_edits import EditableModel

from mcu_mobilenet import cmsis_nn_release as cmsis_nn
from mcu_mobilenet.commands import boards
from mcu_mobilenet.compiler.target import HOST
from mcu_mobilenet.errors import INTERNAL_ERROR_EXIT, UserError, describe_internal_error
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.validation import build_host_runner

DATA = Path(__file__).parent / "data"


def test_an_internal_error_says_it_is_a_bug_and_keeps_the_traceback():
    try:
        {}["missing"]
    except KeyError as error:
        message = describe_internal_error("compile", error, "0.1.0")
    assert len(message.splitlines()) == 1
    assert "internal error (KeyError: 'missing')" in message
    assert "bug of mcu-mobilenet 0.1.0" in message and "issue tracker" in message
    saved = Path(message.rsplit("saved in ", 1)[1])
    try:
        text = saved.read_text()
        assert "Traceback" in text and "KeyError: 'missing'" in text and "command compile" in text
    finally:
        saved.unlink()


def test_the_cli_reports_an_unexpected_exception_as_a_bug(monkeypatch, run_cli):
    """An exception no command should raise, injected into a real command (a stand-in for a
    bug that is not known yet): one line, exit code 70, never a traceback on the terminal."""

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(boards, "run", broken)
    code, out, err = run_cli("boards")
    assert code == INTERNAL_ERROR_EXIT and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error (ZeroDivisionError: division by zero)" in err
    Path(err.strip().rsplit("saved in ", 1)[1]).unlink()


def test_generated_code_that_does_not_build_is_one_line_with_the_log(tmp_path):
    result = compile_model(DATA / "tiny.tflite", tmp_path / "out", force=True, target=HOST)
    (tmp_path / "out" / "model_model.c").write_text("this is not C\n")  # a hand-edited output
    with pytest.raises(UserError) as raised:
        build_host_runner(result, tmp_path)
    message = str(raised.value)
    assert "\n" not in message and "does not build" in message and "model_model.c" in message
    log = Path(message.split("the whole log is in ", 1)[1].split(".log", 1)[0] + ".log")
    assert "error" in log.read_text()
    log.unlink()


def _shift_minus_31_model(tmp_path) -> Path:
    """tiny.tflite with its first convolution's output scale at 1e5: two channels then
    requantize with a shift of -31."""
    model = EditableModel((DATA / "tiny.tflite").read_bytes())
    model.set_scale(8, 1e5)
    return model.save(tmp_path / "shift31.tflite")


def test_cmsis_nn_undefined_behaviour_is_a_known_issue(tmp_path, run_cli):
    if cmsis_nn.locate() is None:
        reason = "CMSIS-NN not available: set CMSIS_NN_PATH or run `make cmsis-nn`"
        if os.environ.get("MCU_REQUIRE_CMSIS_NN") == "1":
            pytest.fail(f"{reason} (MCU_REQUIRE_CMSIS_NN=1)")
        pytest.skip(reason)
    model = _shift_minus_31_model(tmp_path)
    code, _, err = run_cli("validate", model, "--target", "host", "--backend", "cmsis-nn")
    message = err.strip()
    assert code == 2 and len(message.splitlines()) == 1 and "Traceback" not in message
    assert "known issue of CMSIS-NN v7.0.0" in message
    assert "arm_nnsupportfunctions.h" in message and "--backend portable" in message


def test_the_same_model_is_bit_exact_with_the_portable_kernels(tmp_path, run_cli):
    code, out, err = run_cli("validate", _shift_minus_31_model(tmp_path), "--inputs", "5")
    assert code == 0, err
    assert "5/5 outputs bit-exact" in out
