# SPDX-License-Identifier: Apache-2.0
"""Firmware builds: every board definition builds, the ELF's memory is split and checked."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mcu_mobilenet.boards import list_boards, load_board
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import BOARDS_DIR
from mcu_mobilenet.workflow.compile import compile_model
from mcu_mobilenet.workflow.firmware import ModelSources, build_firmware

BOARDS = list_boards()

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"
)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, person_detect):
    """person_detect compiled once: (sources, compiler report)."""

    folder = tmp_path_factory.mktemp("compiled")
    result = compile_model(person_detect, folder, "model", force=True)
    sources = ModelSources(tuple(result.sources), tuple(result.include_dirs), result.prefix)
    return sources, result.report()


@pytest.mark.parametrize("board", BOARDS, ids=[board.name for board in BOARDS])
def test_every_board_builds_person_detect(board, compiled, tmp_path):
    sources, report = compiled
    firmware = build_firmware(board, sources, tmp_path, "person_detect.tflite")
    memory = firmware.memory
    # The weights object lands whole in the weights section (plus alignment padding), the
    # arena in its own.
    assert report["weights_bytes"] <= memory.flash_weights <= 1.01 * report["weights_bytes"]
    assert report["arena_bytes"] <= memory.ram_arena <= report["arena_bytes"] + 16
    assert memory.ram_stack == board.stack_bytes
    assert memory.flash_total == memory.flash_weights + memory.flash_code_and_data
    assert memory.flash_total <= board.flash.size and memory.ram_total <= board.ram.size
    assert memory.flash_code_and_data < 16 * 1024  # harness, drivers, kernels: small
    attributes = subprocess.run(
        ["arm-none-eabi-readelf", "-A", str(firmware.elf)], capture_output=True, text=True
    ).stdout
    assert "Tag_ABI_VFP_args: VFP registers" in attributes  # -mfloat-abi=hard
    symbols = subprocess.run(
        ["arm-none-eabi-nm", str(firmware.elf)], capture_output=True, text=True
    ).stdout
    assert not re.search(r"\b(malloc|_sbrk|printf)\b", symbols)
    # Inference code from the map = the linked sizes of the kernels' and model code's symbols
    # (plus alignment padding); the harness and board code are not in it.
    model_code = [s for s in sources.sources if not s.name.endswith("_weights.c")]
    linked = _linked_symbol_bytes(
        firmware.elf, [tmp_path / "obj" / f"{s}.o"[1:] for s in model_code]
    )
    assert linked <= memory.flash_inference_code <= linked + 128
    assert memory.flash_inference_code < memory.flash_code_and_data
    # The flash images: the bytes the ELF loads into flash, from the start of flash (with the
    # padding that aligns each section).
    binary = tmp_path / "firmware.bin"
    if board.name == "qemu-mps3-an547":  # boots from its ITCM, below the flash: .hex only
        assert not binary.exists() and (tmp_path / "firmware.hex").stat().st_size > 0
    else:
        image = _intel_hex_bytes(tmp_path / "firmware.hex", board.flash.origin)
        assert binary.read_bytes() == image
        assert memory.flash_total <= len(image) <= memory.flash_total + 64


def _intel_hex_bytes(path, origin: int) -> bytes:
    """The data of an Intel HEX file's records from address `origin` (types 00 data, 02
    segment and 04 linear base address)."""
    image, upper = bytearray(), 0
    for line in path.read_text().split():
        record = bytes.fromhex(line[1:])
        assert sum(record) % 256 == 0, line  # checksum
        count, address, kind, data = (
            record[0],
            int.from_bytes(record[1:3], "big"),
            record[3],
            record[4:-1],
        )
        assert len(data) == count
        if kind in (2, 4):
            upper = int.from_bytes(data, "big") << (4 if kind == 2 else 16)
        elif kind == 0:
            start = upper + address - origin
            image[len(image) : start] = bytes(max(0, start - len(image)))
            image[start : start + count] = data
    return bytes(image)


def _linked_symbol_bytes(elf, objects) -> int:
    """Sizes, in the ELF, of the code and constant symbols the objects define."""

    def symbols(path, *options):
        command = ["arm-none-eabi-nm", "--defined-only", *options, str(path)]
        lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return [line.split() for line in lines.splitlines()]

    names = {f[2] for o in objects for f in symbols(o) if len(f) == 3 and f[1] in "tTrRdD"}
    return sum(int(f[1], 16) for f in symbols(elf, "-S") if len(f) == 4 and f[3] in names)


def test_build_command_prints_the_memory_split_and_refuses_to_overwrite(
    run_cli, tmp_path, person_detect
):
    model, output = person_detect, tmp_path / "out"
    code, out, _ = run_cli("build", model, "--board", "qemu-netduinoplus2", "-o", output, "--json")
    assert code == 0
    report = json.loads(out)
    assert (output / "firmware.elf").is_file() and (output / "model").is_dir()
    assert report["memory"]["flash_capacity"] == 1024 * 1024
    assert report["flash_bytes"] == report["memory"]["flash_total"]
    code, _, err = run_cli("build", model, "--board", "qemu-netduinoplus2", "-o", output)
    assert code == 2 and "already exists; pass --force" in err
    code, out, _ = run_cli("build", model, "-o", output, "--force")
    assert code == 0 and "weights" in out and "arena" in out and "stack" in out
    assert not list(tmp_path.glob(".out.building-*"))


def _small_board(tmp_path, flash: int, ram: int, linker_flash: int | None = None):
    """A copy of qemu-mps2-an386 with other memory sizes (the linker's flash may differ)."""
    folder = tmp_path / "qemu-mps2-an386"
    shutil.copytree(BOARDS_DIR / "qemu-mps2-an386", folder)
    linker_flash = flash if linker_flash is None else linker_flash
    for name, sizes in (("board.toml", (flash, ram)), ("linker.ld", (linker_flash, ram))):
        path = folder / name
        flash_part, ram_part = re.split(r"(?=\[memory\.ram\]|\n    RAM )", path.read_text())
        flash_part = flash_part.replace("0x00400000", f"0x{sizes[0]:08X}")
        path.write_text(flash_part + ram_part.replace("0x00400000", f"0x{sizes[1]:08X}"))
    return folder


@pytest.mark.parametrize(
    ("flash", "ram", "message"),
    [
        (128 * 1024, 4 << 20, r"weights need [\d,]+ bytes of flash, the board has 131,072"),
        (4 << 20, 32 * 1024, r"need [\d,]+ bytes of RAM, the board has 32,768"),
    ],
)
def test_a_model_too_big_for_the_board_is_one_line(
    run_cli, tmp_path, flash, ram, message, person_detect
):
    board = _small_board(tmp_path, flash, ram)
    model = person_detect
    args = ("--board", board, "--backend", "portable", "-o", tmp_path / "out")
    code, _, err = run_cli("build", model, *args)
    assert code == 2
    assert err.count("\n") == 1 and "does not fit" in err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_the_linker_catches_what_the_early_check_cannot(compiled, tmp_path):
    """The early check sees only weights and arena; code that overflows flash is caught by
    the linker, and reported the same way."""
    sources, report = compiled
    board = load_board(
        _small_board(tmp_path, 4 << 20, 4 << 20, linker_flash=report["weights_bytes"])
    )
    with pytest.raises(UserError, match=r"does not fit qemu-mps2-an386: .* more flash"):
        build_firmware(board, sources, tmp_path / "build", "person_detect.tflite")


def test_a_compile_error_shows_the_compilers_line_and_keeps_the_log(compiled, tmp_path):
    sources, _ = compiled
    broken = tmp_path / "broken.c"
    broken.write_text("int broken(void) { return undeclared_name; }\n")
    with_broken = ModelSources((*sources.sources, broken), sources.include_dirs, sources.prefix)
    build = tmp_path / "build"
    with pytest.raises(UserError) as error:
        build_firmware(load_board("qemu-mps2-an386"), with_broken, build, "person_detect.tflite")
    message = str(error.value)
    assert "\n" not in message
    assert re.search(r"broken\.c:1:\d+: error: 'undeclared_name' undeclared", message), message
    assert "-Werror" not in message  # the diagnostic, not the command line
    log = Path(message.rsplit("full log: ", 1)[1])
    shutil.rmtree(build)  # what `build` does with a failed build folder
    assert "undeclared_name" in log.read_text()
    log.unlink()
