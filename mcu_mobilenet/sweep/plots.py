# SPDX-License-Identifier: Apache-2.0
"""The trade-off plots of a sweep (PNG and SVG), drawn with matplotlib's Agg backend.

- accuracy against mult-adds (log scale), as in the MobileNets paper's figures;
- accuracy against the measured time per inference;
- peak RAM and flash of every point against the board's limits.

Points on the Pareto front (no other point is at least as accurate for fewer mult-adds, or
less time) are joined by a line and ringed.
"""

from __future__ import annotations

from pathlib import Path

from mcu_mobilenet.sweep.results import Point, pareto_front


def draw_plots(
    points: list[Point], out_dir: Path, board_flash: int | None = None, board_ram: int | None = None
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [p for p in points if p.status == "done" and p.int8_accuracy is not None]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    figures = {
        "accuracy_vs_macs": _accuracy_plot(plt, done, "macs", "mult-adds (log scale)", log=True),
        "accuracy_vs_time": _accuracy_plot(
            plt,
            [p for p in done if p.time_per_inference],
            "time_per_inference",
            f"time per inference ({_time_unit(done)})",
            log=True,
        ),
        "memory_vs_limits": _memory_plot(plt, points, board_flash, board_ram),
    }
    for name, figure in figures.items():
        for suffix in ("png", "svg"):
            path = out_dir / f"{name}.{suffix}"
            # SVG keeps no timestamp, so the same results give the same file.
            figure.savefig(path, dpi=120, metadata={"Date": None} if suffix == "svg" else None)
            written.append(path)
        plt.close(figure)
    return written


def _time_unit(points: list[Point]) -> str:
    units = {p.time_unit for p in points if p.time_unit}
    return ", ".join(sorted(units)) or "no measurement"


def _label(point: Point) -> str:
    return f"{point.alpha:g}-{point.resolution}"


def _accuracy_plot(plt, points: list[Point], key: str, xlabel: str, log: bool):
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    alphas = sorted({p.alpha for p in points})
    for alpha in alphas:
        members = sorted((p for p in points if p.alpha == alpha), key=lambda p: getattr(p, key))
        axes.plot(
            [getattr(p, key) for p in members],
            [100 * p.int8_accuracy for p in members],
            "o-",
            alpha=0.6,
            label=f"alpha {alpha:g}",
        )
        for point in members:
            axes.annotate(
                str(point.resolution),
                (getattr(point, key), 100 * point.int8_accuracy),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    front = pareto_front(points, key)
    if front:
        axes.plot(
            [getattr(p, key) for p in front],
            [100 * p.int8_accuracy for p in front],
            "k--",
            linewidth=1,
            label="Pareto front",
        )
        axes.scatter(
            [getattr(p, key) for p in front],
            [100 * p.int8_accuracy for p in front],
            s=120,
            facecolors="none",
            edgecolors="k",
        )
    if log:
        axes.set_xscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("int8 top-1 accuracy (%)")
    axes.set_title("accuracy against " + xlabel.split(" (")[0] + " (labels: resolution)")
    axes.grid(True, which="both", alpha=0.3)
    if points:
        axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _memory_plot(plt, points: list[Point], board_flash: int | None, board_ram: int | None):
    figure, (ram_axes, flash_axes) = plt.subplots(1, 2, figsize=(9.6, 4.2))
    measured = [p for p in points if p.ram_bytes and p.flash_bytes]
    labels = [_label(p) for p in measured]
    colors = ["tab:blue" if p.status == "done" else "tab:red" for p in measured]
    for axes, key, limit, title in (
        (ram_axes, "ram_bytes", board_ram, "peak RAM"),
        (flash_axes, "flash_bytes", board_flash, "flash"),
    ):
        values = [getattr(p, key) / 1024 for p in measured]
        axes.bar(range(len(measured)), values, color=colors)
        for x, value in enumerate(values):
            axes.annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom", fontsize=7)
        axes.set_yscale("log")
        if limit:
            axes.axhline(limit / 1024, color="k", linestyle="--", linewidth=1, label="board limit")
            axes.legend(fontsize=8)
        axes.set_xticks(range(len(measured)), labels, rotation=60, fontsize=7)
        axes.set_ylabel("KiB (log scale)")
        axes.set_title(f"{title} (alpha-resolution; red: does not fit)")
    figure.tight_layout()
    return figure
