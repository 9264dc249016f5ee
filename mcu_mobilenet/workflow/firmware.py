# SPDX-License-Identifier: Apache-2.0
"""Builds the harness firmware for a board and a compiled model, and reads its memory use.

`make -C firmware` does the compiling; this module gives it the board's flags and the
model's sources, writes the build configuration header, then reads flash and RAM from the
ELF (`arm-none-eabi-size -A`, never estimated) and refuses a model that does not fit.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from mcu_mobilenet import processes
from mcu_mobilenet.boards import Board
from mcu_mobilenet.codegen.emitter import check_prefix
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.compiler.target import board_target
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import BOARDS_DIR, FIRMWARE_DIR
from mcu_mobilenet.tensor_info import TensorInfo
from mcu_mobilenet.toolchain import CROSS_GCC, CROSS_OBJCOPY, CROSS_SIZE
from mcu_mobilenet.workflow.compile import compile_model

HARNESS_SOURCES = ("main.c", "mm_protocol.c", "fault.c")


@dataclass(frozen=True)
class ModelSources:
    """What the compiler produced: every .c file to build, include folders, symbol prefix."""

    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    prefix: str


@dataclass(frozen=True)
class MemoryUse:
    """Bytes read from the ELF. Flash holds weights, code and .data's initial values; RAM holds
    the stack, .data and .bss (static) and the model's arena."""

    flash_weights: int
    flash_code_and_data: int
    flash_total: int
    flash_capacity: int
    ram_arena: int
    ram_static: int
    ram_stack: int
    ram_total: int
    ram_capacity: int
    flash_inference_code: int  # kernels and model code (no weights, harness, board or libc)

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Firmware:
    elf: Path
    board: Board
    build_id: str
    memory: MemoryUse


def build_firmware(
    board: Board, model: ModelSources, build_dir: Path, model_name: str = "the model"
) -> Firmware:
    """Builds build_dir/firmware.elf. `model_name` names the model in error messages."""
    for tool in (CROSS_GCC, CROSS_SIZE, CROSS_OBJCOPY, "make"):
        if shutil.which(tool) is None:
            raise UserError(
                f"{tool} not found: install the Arm GNU toolchain and make "
                "(Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi make)"
            )
    build_dir = build_dir.resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [
        *board.sources,
        *(FIRMWARE_DIR / "harness" / name for name in HARNESS_SOURCES),
        *(Path(source).resolve() for source in model.sources),
    ]
    include_dirs = [Path(directory).resolve() for directory in model.include_dirs]
    for path in (*sources, *include_dirs, build_dir):
        if " " in str(path):
            raise UserError(f"path {path} contains a space, which make cannot handle; move it")
    build_id = _build_id(board, sources)
    config_header = build_dir / "mm_build_config.h"
    _write_if_changed(config_header, _config_header(board, model.prefix, build_id))

    command = [
        "make", "-C", str(FIRMWARE_DIR), f"-j{os.cpu_count() or 1}",
        f"BUILD_DIR={build_dir}",
        f"CPU_FLAGS={' '.join(board.cpu_flags)}",
        f"SOURCES={' '.join(map(str, sources))}",
        f"INCLUDE_DIRS={' '.join(map(str, include_dirs))}",
        f"CONFIG_HEADER={config_header}",
        f"LINKER_SCRIPT={board.linker_script}",
        f"STACK_SIZE={board.stack_bytes}",
    ]  # fmt: skip
    print(f"building firmware for {board.name} in {build_dir}", file=sys.stderr)
    result = processes.run(command, capture_output=True, text=True)
    log = build_dir / "build.log"
    log.write_text(" ".join(command) + "\n" + result.stdout + result.stderr)
    if result.returncode != 0:
        _raise_build_failure(result.stdout + result.stderr, board, model_name, log)
    elf = build_dir / "firmware.elf"
    sections = _sections(elf)
    memory = read_memory_use(elf, board, sections)
    _write_flash_binary(elf, board, sections)
    return Firmware(elf, board, build_id, memory)


FLASH_SECTIONS = (".vectors", ".weights", ".text", ".ARM.exidx")


def _write_flash_binary(elf: Path, board: Board, sections: dict[str, tuple[int, int]]) -> None:
    """firmware.bin, the raw flash image from the start of flash, when everything the ELF
    loads at reset lies in the board's flash (a board that boots from another region, such
    as the Cortex-M55's ITCM, gets the .hex only: a .bin would fill the gap with zeros)."""
    flash_end = board.flash.origin + board.flash.size
    for name, (size, address) in sections.items():
        if name in FLASH_SECTIONS and size > 0 and not board.flash.origin <= address < flash_end:
            return
    processes.run(
        [CROSS_OBJCOPY, "-O", "binary", str(elf), str(elf.with_suffix(".bin"))], check=True
    )


def check_model_fits(
    board: Board, model_name: str, weights_bytes: int, arena_bytes: int, scratch_bytes: int = 0
) -> None:
    """Fails early, from the compiler's figures, before anything is built."""
    if weights_bytes > board.flash.size:
        raise UserError(
            f"{model_name} does not fit {board.name}: its weights need {weights_bytes:,} bytes "
            f"of flash, the board has {board.flash.size:,}; use a smaller width multiplier or "
            "a board with more flash"
        )
    ram_needed = arena_bytes + scratch_bytes + board.stack_bytes
    if ram_needed > board.ram.size:
        scratch = f", its scratch ({scratch_bytes:,})" if scratch_bytes else ""
        raise UserError(
            f"{model_name} does not fit {board.name}: its arena ({arena_bytes:,} bytes){scratch} "
            f"and the stack ({board.stack_bytes:,}) need {ram_needed:,} bytes of RAM, the board "
            f"has {board.ram.size:,}; use a lower input resolution or a board with more RAM"
        )


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    """Each section of the ELF: (size, address), from `arm-none-eabi-size -A`."""
    output = processes.run(
        [CROSS_SIZE, "-A", "-d", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    sections = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            sections[fields[0]] = (int(fields[1]), int(fields[2]))
    return sections


def read_memory_use(elf: Path, board: Board, sections: dict[str, tuple[int, int]]) -> MemoryUse:
    """Flash and RAM of the ELF from its `sections`; the inference code from its map."""
    sizes = {name: size for name, (size, _) in sections.items()}
    weights = sizes.get(".weights", 0)
    code_and_data = sum(sizes.get(name, 0) for name in (".vectors", ".text", ".ARM.exidx", ".data"))
    arena = sizes.get(".arena", 0)
    static = sizes.get(".data", 0) + sizes.get(".bss", 0)
    stack = sizes.get(".stack", 0)
    return MemoryUse(
        flash_weights=weights,
        flash_code_and_data=code_and_data,
        flash_total=weights + code_and_data,
        flash_capacity=board.flash.size,
        ram_arena=arena,
        ram_static=static,
        ram_stack=stack,
        ram_total=arena + static + stack,
        ram_capacity=board.ram.size,
        flash_inference_code=inference_code_bytes(elf.with_suffix(".map")),
    )


# In the linker map, an output section starts at column 0; each input section kept in it is
# " .name" then "address size object" (on the same line when the name is short).
_OUTPUT_SECTION = re.compile(r"^(\.\S+)")
_INPUT_SECTION = re.compile(r"^ (\.\S+)(?:\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+))?\s*$")
_KEPT = re.compile(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)\s*$")
_CODE_SECTIONS = (".text", ".ARM.exidx", ".data")


def inference_code_bytes(map_file: Path) -> int:
    """Flash bytes of code and constants other than weights that the kernels and the model's
    code keep in the linked ELF: what an application pays to run the model, besides weights.
    The harness, the board files and the C library are not counted."""
    not_inference = (str(FIRMWARE_DIR / "harness") + "/", str(BOARDS_DIR) + "/")
    total, output_section, input_section = 0, "", False
    for line in map_file.read_text().split("Linker script and memory map", 1)[-1].splitlines():
        if match := _OUTPUT_SECTION.match(line):
            output_section = match.group(1)
            continue
        if match := _INPUT_SECTION.match(line):
            input_section = True
            if match.group(2) is None:
                continue
            size, origin = match.group(2), match.group(3)
        elif input_section and (match := _KEPT.match(line)):
            size, origin = match.group(1), match.group(2)
        else:
            input_section = False
            continue
        input_section = False
        if output_section not in _CODE_SECTIONS or not origin.endswith(".o"):
            continue  # weights, RAM, debug information, or a C library archive member
        if any(part in origin for part in not_inference):
            continue
        total += int(size, 16)
    return total


def _raise_build_failure(output: str, board: Board, model_name: str, log: Path) -> None:
    overflow = re.search(r"region `(\w+)' overflowed by (\d+) bytes", output)
    if overflow:
        region, excess = overflow.group(1), int(overflow.group(2))
        memory = "flash" if region == "FLASH" else "RAM"
        capacity = board.flash.size if region == "FLASH" else board.ram.size
        raise UserError(
            f"{model_name} does not fit {board.name}: the firmware needs {excess:,} bytes more "
            f"{memory} than the board's {capacity:,}; use a smaller model or a bigger board"
        )
    # The compiler's and linker's own diagnostics, never the command lines that carry -Werror.
    diagnostics = [line.strip() for line in output.splitlines() if _DIAGNOSTIC.search(line)]
    first = diagnostics[0] if diagnostics else (output.strip().splitlines() or ["no output"])[-1]
    more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
    kept = _keep_log(log)
    raise UserError(f"firmware build for {board.name} failed: {first}{more}; full log: {kept}")


_DIAGNOSTIC = re.compile(r": (?:fatal )?error: |undefined reference to |multiple definition of ")


def _keep_log(log: Path) -> Path:
    """A copy of the build log that outlives the build folder, which is removed on failure."""
    handle, kept = tempfile.mkstemp(prefix="mcu-mobilenet-build-", suffix=".log")
    with os.fdopen(handle, "wb") as copy:
        copy.write(log.read_bytes())
    return Path(kept)


def _build_id(board: Board, sources: list[Path]) -> str:
    """Hash of everything that goes into the ELF: the host checks it against the board's."""
    digest = hashlib.sha256()
    digest.update((board.directory / "board.toml").read_bytes())
    digest.update(board.linker_script.read_bytes())
    digest.update((FIRMWARE_DIR / "Makefile").read_bytes())
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def _config_header(board: Board, prefix: str, build_id: str) -> str:
    check_prefix(prefix)
    defines = {
        "MM_BOARD_NAME": f'"{board.name}"',
        "MM_BUILD_ID": f'"{build_id}"',
        "MM_MODEL_HEADER": f'"{prefix}_model.h"',
        "MM_MODEL_PREFIX": prefix,
        "MM_MODEL_PREFIX_UPPER": prefix.upper(),
        "MM_MODEL_PREFIX_STRING": f'"{prefix}"',
        "MM_UART_BASE": f"0x{board.uart.base:08X}u",
        "MM_UART_CLOCK_HZ": f"{board.uart.clock_hz}u",
        "MM_UART_BAUD": f"{board.uart.baud}u",
        "MM_TIMER_KIND": f'"{board.timer.kind}"',
        "MM_TIMER_HZ": f"{board.timer.clock_hz}u",
        "MM_CPU_HZ": f"{board.clock_hz}u",
    }
    if board.uart.tx_pin is not None:
        defines["MM_UART_TX_PIN"] = f"{board.uart.tx_pin}u"
    if board.uart.rx_pin is not None:
        defines["MM_UART_RX_PIN"] = f"{board.uart.rx_pin}u"
    defines.update({name: f"{value}" for name, value in board.defines.items()})
    lines = [f"#define {name} {value}" for name, value in defines.items()]
    return (
        "/* SPDX-License-Identifier: Apache-2.0 */\n"
        "/* Written by mcu-mobilenet build from board.toml; do not edit. */\n"
        + "\n".join(lines)
        + "\n"
    )


def _write_if_changed(path: Path, text: str) -> None:
    """Keeps the timestamp when nothing changed, so make rebuilds nothing."""
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


@dataclass(frozen=True)
class ModelFirmware:
    """A model compiled and built into firmware, with the compiler's report."""

    firmware: Firmware
    compile_report: dict
    input: TensorInfo
    output: TensorInfo


def build_for_model(
    model_path: str | Path, board: Board, build_dir: Path, backend: str = registry.DEFAULT
) -> ModelFirmware:
    """Compiles the model into build_dir/model, then builds build_dir/firmware.elf."""

    model_name = Path(model_path).name
    target = board_target(board) if registry.get_backend(backend).needs_target else None
    result = compile_model(
        model_path, build_dir / "model", "model", backend, force=True, target=target
    )
    report = result.report()
    check_model_fits(
        board, model_name, report["weights_bytes"], report["arena_bytes"], report["scratch_bytes"]
    )
    sources = ModelSources(tuple(result.sources), tuple(result.include_dirs), result.prefix)
    firmware = build_firmware(board, sources, build_dir, model_name)
    return ModelFirmware(firmware, report, result.input, result.output)
