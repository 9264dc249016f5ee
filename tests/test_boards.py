# SPDX-License-Identifier: Apache-2.0
"""Board definitions: they load, agree with their linker scripts, and convert time right."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mcu_mobilenet.boards import DEFAULT_BOARD, list_boards, load_board
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import BOARDS_DIR
from mcu_mobilenet.workflow.validation import validate_on_board

BOARDS = list_boards()
BOARD_NAMES = [board.name for board in BOARDS]


def test_the_issue_boards_are_all_defined():
    assert {
        "qemu-mps2-an386",
        "qemu-mps2-an500",
        "qemu-mps3-an547",
        "qemu-netduinoplus2",
        "renode-stm32f4-discovery",
        "renode-nrf52840",
        "nucleo-f446re",
        "nrf52840-dk",
    } <= set(BOARD_NAMES)
    assert load_board(DEFAULT_BOARD).emulator == "qemu"


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_NAMES)
def test_linker_script_memory_matches_board_toml(board):
    text = board.linker_script.read_text()
    for region, expected in (("FLASH", board.flash), ("RAM", board.ram)):
        match = re.search(
            rf"{region} \(\w+\) : ORIGIN = (0x[0-9A-Fa-f]+), LENGTH = (0x[0-9A-Fa-f]+)", text
        )
        assert match, f"{board.linker_script} has no {region} region"
        assert (int(match.group(1), 16), int(match.group(2), 16)) == (
            expected.origin,
            expected.size,
        )


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_NAMES)
def test_cpu_flags_are_accepted_by_the_cross_compiler(board, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    source = tmp_path / "empty.c"
    source.write_text("int mm_answer(void) { return 42; }\n")
    command = ["arm-none-eabi-gcc", "-mthumb", *board.cpu_flags, "-c", str(source)]
    result = subprocess.run([*command, "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_each_kind_of_board_is_timed_in_its_honest_unit():
    for board in BOARDS:
        expected = "cycles" if board.emulator == "none" else "instructions"
        assert board.time_unit == expected, board.name


def test_qemu_ticks_convert_at_one_instruction_per_nanosecond():
    an386 = load_board("qemu-mps2-an386")  # SysTick at 25 MHz: 40 ns, so 40 instructions
    assert an386.ticks_to_time(1) == 40
    assert an386.ticks_to_time(3_000_000) == 120_000_000
    netduino = load_board("qemu-netduinoplus2")  # 168 MHz: 5.95 instructions per tick
    assert netduino.ticks_to_time(168) == 1000
    assert load_board("nucleo-f446re").ticks_to_time(12345) == 12345


def test_qemu_knows_every_qemu_machine():
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm not installed")
    machines = subprocess.run(
        ["qemu-system-arm", "-machine", "help"], capture_output=True, text=True
    ).stdout
    for board in BOARDS:
        if board.qemu is not None:
            assert re.search(rf"^{board.qemu.machine}\s", machines, re.MULTILINE), board.name


def test_renode_scripts_use_the_variables_the_harness_sets():
    for board in BOARDS:
        if board.renode is not None:
            script = (board.directory / board.renode.script).read_text()
            assert "$elf" in script and "$port" in script, board.name


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(
        UserError, match="unknown board 'no-such-board': choose one of .*qemu-mps2-an386"
    ):
        load_board("no-such-board")


def _copy_board(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "qemu-mps2-an386"
    shutil.copytree(BOARDS_DIR / "qemu-mps2-an386", folder)
    toml = folder / "board.toml"
    toml.write_text(edit(toml.read_text()))
    return folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + "\nsurprise = 1\n", r"unknown key\(s\) surprise"),
        (lambda t: t.replace('mcpu = "cortex-m4"\n', ""), "missing key 'mcpu'"),
        (
            lambda t: t.replace('kind = "systick-icount"', 'kind = "dwt"'),
            "QEMU board is timed with",
        ),
        (lambda t: t.replace('driver = "cmsdk"', 'driver = "pl011"'), "'driver' is 'pl011'; known"),
        (lambda t: re.sub(r"stack_bytes = \d+", "stack_bytes = -1", t), "must be positive"),
        (lambda t: t.replace("[qemu]", "[qemu_settings]"), "missing key 'qemu'"),
        (lambda t: t.replace("size = 0x00400000", 'size = "4M"', 1), "wrong type"),
    ],
)
def test_bad_board_definitions_fail_with_file_and_key(tmp_path, edit, message):
    folder = _copy_board(tmp_path, edit)
    with pytest.raises(UserError, match=message) as error:
        load_board(folder)
    assert str(folder / "board.toml") in str(error.value)
    assert "\n" not in str(error.value)


def test_a_board_folder_can_be_given_as_a_path(tmp_path):
    folder = _copy_board(tmp_path, lambda text: text)
    assert load_board(folder).directory == folder.resolve()


@pytest.mark.skipif(shutil.which("renode") is None, reason="renode not installed (renode.io)")
@pytest.mark.parametrize("name", [b.name for b in BOARDS if b.emulator == "renode"])
def test_renode_boards_run_person_detect_bit_exact(name, person_detect, shared_models):

    report = validate_on_board(
        person_detect, name, inputs=1, images=[shared_models / "person.bmp"], pixel_format="raw"
    )
    assert report.passed
    assert report.outputs[-1]["output"] == [-113, 113]
