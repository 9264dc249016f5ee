# SPDX-License-Identifier: Apache-2.0
"""Choosing alpha and resolution for a board: the paper's "choose a model size based on the
constraints of the problem", made concrete.

From a sweep: among the points measured on the board, those within every limit (the board's
flash and RAM, and the user's --max-ram, --max-flash, --max-time); the most accurate wins
(ties: fewer mult-adds). Without a sweep: every (alpha, resolution) candidate is predicted
exactly for flash and RAM (the compiler plans the family's graph) and by a calibrated cost
model for time; the one with the most mult-adds that fits wins, mult-adds standing in for
accuracy as the paper's tables show it does. Either way every candidate larger than the
choice is listed with the reason it lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Limits:
    flash_bytes: int  # the board's
    ram_bytes: int
    max_flash_bytes: int | None = None  # the user's
    max_ram_bytes: int | None = None
    max_time: float | None = None  # in time_unit
    time_unit: str = "instructions"


@dataclass
class Candidate:
    alpha: float
    resolution: int
    macs: int
    flash_bytes: int
    ram_bytes: int
    time: float | None  # in the limits' time unit; None: unknown
    accuracy: float | None  # int8 top-1 from a sweep; None when predicting
    measured: bool  # from a sweep (measured on the board) or predicted
    reasons: list[str] = field(default_factory=list)  # why it cannot be chosen

    @property
    def label(self) -> str:
        return f"alpha {self.alpha:g}, resolution {self.resolution}"


@dataclass
class Selection:
    choice: Candidate | None
    rejected: list[Candidate]  # larger (more mult-adds) than the choice, or all if no choice
    mode: str  # "sweep" or "prediction"
    limits: Limits

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "limits": asdict(self.limits),
            "choice": asdict(self.choice) if self.choice else None,
            "rejected": [asdict(c) for c in self.rejected],
        }


def check_limits(candidate: Candidate, limits: Limits) -> None:
    """Fills candidate.reasons with every limit it breaks."""

    def kib(value: int) -> str:
        return f"{value / 1024:,.1f} KiB"

    if candidate.flash_bytes > limits.flash_bytes:
        candidate.reasons.append(
            f"flash {kib(candidate.flash_bytes)} > the board's {kib(limits.flash_bytes)}"
        )
    if candidate.ram_bytes > limits.ram_bytes:
        candidate.reasons.append(
            f"RAM {kib(candidate.ram_bytes)} > the board's {kib(limits.ram_bytes)}"
        )
    if limits.max_flash_bytes is not None and candidate.flash_bytes > limits.max_flash_bytes:
        candidate.reasons.append(
            f"flash {kib(candidate.flash_bytes)} > --max-flash {kib(limits.max_flash_bytes)}"
        )
    if limits.max_ram_bytes is not None and candidate.ram_bytes > limits.max_ram_bytes:
        candidate.reasons.append(
            f"RAM {kib(candidate.ram_bytes)} > --max-ram {kib(limits.max_ram_bytes)}"
        )
    if limits.max_time is not None:
        if candidate.time is None:
            candidate.reasons.append("its time is unknown")
        elif candidate.time > limits.max_time:
            how = "measured" if candidate.measured else "predicted"
            candidate.reasons.append(
                f"{how} time {candidate.time:,.0f} {limits.time_unit} > --max-time "
                f"{limits.max_time:,.0f}"
            )


def select(candidates: list[Candidate], limits: Limits, mode: str) -> Selection:
    for candidate in candidates:
        candidate.reasons.clear()
        check_limits(candidate, limits)
    fitting = [c for c in candidates if not c.reasons]
    if mode == "sweep":
        ranked = sorted(fitting, key=lambda c: (-(c.accuracy or 0.0), c.macs))
    else:
        ranked = sorted(fitting, key=lambda c: (-c.macs, c.ram_bytes))
    choice = ranked[0] if ranked else None
    if choice is None:
        rejected = sorted(candidates, key=lambda c: -c.macs)
    else:
        rejected = sorted(
            (
                c
                for c in candidates
                if c.macs > choice.macs
                or (mode == "sweep" and c is not choice and c.macs == choice.macs)
            ),
            key=lambda c: -c.macs,
        )
        for candidate in rejected:
            if not candidate.reasons:  # it fits, but the choice is more accurate
                candidate.reasons.append(
                    f"less accurate: {100 * (candidate.accuracy or 0):.1f}% against the "
                    f"choice's {100 * (choice.accuracy or 0):.1f}%"
                )
    return Selection(choice, rejected, mode, limits)
