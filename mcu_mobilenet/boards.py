# SPDX-License-Identifier: Apache-2.0
"""Board definitions: boards/<name>/board.toml, loaded and checked.

A board names its CPU and its exact -mcpu/-mfpu/-mfloat-abi, its flash and RAM (the real
part's, or the FPGA image's), its UART and timer drivers, and how to run it: under QEMU,
under Renode, or on real hardware through a serial port (flashed with openocd or pyocd).
`--board` takes a board's name or the path of a folder holding a board.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import BOARDS_DIR

COMMON_DIR = BOARDS_DIR / "common"
DEFAULT_BOARD = "qemu-mps2-an386"
EMULATORS = ("qemu", "renode", "none")
UART_DRIVERS = {
    "cmsdk": "uart_cmsdk.c",
    "stm32-usart": "uart_stm32_usart.c",
    "nrf52-uart": "uart_nrf52.c",
}
# Timer kind -> (driver, unit it measures).
TIMER_KINDS = {
    "systick-icount": ("timer_systick.c", "instructions"),
    "systick-renode": ("timer_systick.c", "instructions"),
    "dwt": ("timer_dwt.c", "cycles"),
}
# QEMU's -icount shift=0 advances virtual time by 1 ns per instruction.
QEMU_INSTRUCTIONS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True)
class MemoryRegion:
    origin: int
    size: int


@dataclass(frozen=True)
class UartSettings:
    driver: str
    base: int
    clock_hz: int
    baud: int
    tx_pin: int | None
    rx_pin: int | None


@dataclass(frozen=True)
class TimerSettings:
    kind: str
    clock_hz: int


@dataclass(frozen=True)
class QemuSettings:
    machine: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class RenodeSettings:
    script: str
    # Renode's virtual time: each CPU runs this many instructions per virtual second.
    instructions_per_second: int


@dataclass(frozen=True)
class FlashTools:
    openocd_args: tuple[str, ...]
    pyocd_target: str | None


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    directory: Path
    emulator: str
    cpu: str
    mcpu: str
    mfpu: str
    mfloat_abi: str
    clock_hz: int
    board_sources: tuple[Path, ...]
    linker_script: Path
    stack_bytes: int
    flash: MemoryRegion
    ram: MemoryRegion
    uart: UartSettings
    timer: TimerSettings
    qemu: QemuSettings | None
    renode: RenodeSettings | None
    flash_tools: FlashTools | None
    defines: dict[str, int]

    @property
    def cpu_flags(self) -> list[str]:
        flags = [f"-mcpu={self.mcpu}"]
        if self.mfpu:
            flags.append(f"-mfpu={self.mfpu}")
        return [*flags, f"-mfloat-abi={self.mfloat_abi}"]

    @property
    def sources(self) -> list[Path]:
        """Board start-up, shared start-up and the selected UART and timer drivers."""
        return [
            *self.board_sources,
            COMMON_DIR / "startup_cortexm.c",
            COMMON_DIR / UART_DRIVERS[self.uart.driver],
            COMMON_DIR / TIMER_KINDS[self.timer.kind][0],
        ]

    @property
    def time_unit(self) -> str:
        return TIMER_KINDS[self.timer.kind][1]

    def ticks_to_time(self, ticks: int) -> int:
        """Timer ticks -> instructions (emulators) or cycles (DWT), rounded to nearest."""
        if self.timer.kind == "dwt":
            return ticks
        per_second = (
            QEMU_INSTRUCTIONS_PER_SECOND
            if self.timer.kind == "systick-icount"
            else self.renode.instructions_per_second  # type: ignore[union-attr]
        )
        return (ticks * per_second + self.timer.clock_hz // 2) // self.timer.clock_hz


def list_boards() -> list[Board]:
    return [load_board(path.parent) for path in sorted(BOARDS_DIR.glob("*/board.toml"))]


def load_board(name_or_path: str | Path) -> Board:
    """Loads a board by name (boards/<name>) or from a folder holding board.toml."""
    candidate = Path(name_or_path)
    directory = (
        candidate if (candidate / "board.toml").is_file() else BOARDS_DIR / str(name_or_path)
    )
    toml_path = directory / "board.toml"
    if not toml_path.is_file():
        names = ", ".join(path.parent.name for path in sorted(BOARDS_DIR.glob("*/board.toml")))
        raise UserError(
            f"unknown board '{name_or_path}': choose one of {names}, or a folder with a board.toml"
        )
    try:
        data = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{toml_path}: not valid TOML: {error}") from error
    return _parse(_Table(data, str(toml_path)), directory.resolve())


class _Table:
    """A TOML table whose every read names the file and key when it fails."""

    def __init__(self, data: dict[str, Any], where: str):
        self.data = data
        self.where = where
        self.read: set[str] = set()

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is ...:
                raise UserError(f"{self.where}: missing key '{key}'")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UserError(f"{self.where}: '{key}' has the wrong type ({type(value).__name__})")
        return value

    def text(self, key: str, default: Any = ...) -> str:
        return self._get(key, str, default)

    def integer(self, key: str, default: Any = ..., positive: bool = True) -> int:
        value = self._get(key, int, default)
        if positive and value is not None and value <= 0:
            raise UserError(f"{self.where}: '{key}' must be positive, not {value}")
        return value

    def texts(self, key: str, default: Any = ...) -> tuple[str, ...]:
        values = self._get(key, list, default)
        if not all(isinstance(value, str) for value in values):
            raise UserError(f"{self.where}: '{key}' must be a list of strings")
        return tuple(values)

    def choice(self, key: str, choices: Any) -> str:
        value = self.text(key)
        if value not in choices:
            raise UserError(f"{self.where}: '{key}' is '{value}'; known: {', '.join(choices)}")
        return value

    def table(self, key: str, required: bool = True) -> _Table | None:
        value = self._get(key, dict, ... if required else None)
        return None if value is None else _Table(value, f"{self.where} [{key}]")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise UserError(f"{self.where}: unknown key(s) {', '.join(unknown)}")


def _parse(top: _Table, directory: Path) -> Board:
    name = top.text("name")
    if name != directory.name:
        raise UserError(f"{top.where}: name '{name}' differs from its folder '{directory.name}'")
    emulator = top.choice("emulator", EMULATORS)
    board_sources = tuple(directory / source for source in top.texts("sources"))
    linker_script = directory / top.text("linker_script")
    for path in (*board_sources, linker_script):
        if not path.is_file():
            raise UserError(f"{top.where}: file {path} not found")

    memory = top.table("memory")
    flash, ram = (_region(memory.table(region)) for region in ("flash", "ram"))
    memory.done()

    uart_table = top.table("uart")
    uart = UartSettings(
        driver=uart_table.choice("driver", UART_DRIVERS),
        base=uart_table.integer("base"),
        clock_hz=uart_table.integer("clock_hz"),
        baud=uart_table.integer("baud"),
        tx_pin=uart_table.integer("tx_pin", None, positive=False),
        rx_pin=uart_table.integer("rx_pin", None, positive=False),
    )
    uart_table.done()
    timer_table = top.table("timer")
    timer = TimerSettings(timer_table.choice("kind", TIMER_KINDS), timer_table.integer("clock_hz"))
    timer_table.done()

    qemu = renode = flash_tools = None
    if (table := top.table("qemu", required=emulator == "qemu")) is not None:
        qemu = QemuSettings(table.text("machine"), table.texts("args", []))
        table.done()
    if (table := top.table("renode", required=emulator == "renode")) is not None:
        renode = RenodeSettings(table.text("script"), table.integer("instructions_per_second"))
        if not (directory / renode.script).is_file():
            raise UserError(f"{table.where}: script {directory / renode.script} not found")
        table.done()
    if (table := top.table("flash_tools", required=emulator == "none")) is not None:
        flash_tools = FlashTools(table.texts("openocd_args", []), table.text("pyocd_target", None))
        table.done()
    if emulator == "none" and timer.kind != "dwt":
        raise UserError(f"{top.where}: a real board is timed with the DWT cycle counter ('dwt')")
    if emulator == "qemu" and timer.kind != "systick-icount":
        raise UserError(f"{top.where}: a QEMU board is timed with 'systick-icount'")
    if emulator == "renode" and timer.kind != "systick-renode":
        raise UserError(f"{top.where}: a Renode board is timed with 'systick-renode'")

    defines_table = top.table("defines", required=False)
    defines = {}
    if defines_table is not None:
        defines = {key: defines_table.integer(key, positive=False) for key in defines_table.data}
        defines_table.done()

    board = Board(
        name=name,
        description=top.text("description"),
        directory=directory,
        emulator=emulator,
        cpu=top.text("cpu"),
        mcpu=top.text("mcpu"),
        mfpu=top.text("mfpu"),
        mfloat_abi=top.choice("mfloat_abi", ("soft", "softfp", "hard")),
        clock_hz=top.integer("clock_hz"),
        board_sources=board_sources,
        linker_script=linker_script,
        stack_bytes=top.integer("stack_bytes"),
        flash=flash,
        ram=ram,
        uart=uart,
        timer=timer,
        qemu=qemu,
        renode=renode,
        flash_tools=flash_tools,
        defines=defines,
    )
    top.done()
    return board


def _region(table: _Table) -> MemoryRegion:
    region = MemoryRegion(table.integer("origin", positive=False), table.integer("size"))
    table.done()
    return region
