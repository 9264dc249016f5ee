# SPDX-License-Identifier: Apache-2.0
"""One sweep point's record, and the sweep's results files (results.json, results.csv).

Each point keeps its own record, `points/<label>/point.json`, written atomically when the
point ends (done, failed or does not fit); the results files are rebuilt from those records,
so an interrupted sweep never loses a finished point. A label names the point's exact
parameters, so two points never share a folder.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import write_text_atomically


@dataclass
class Point:
    alpha: float
    resolution: int
    status: str = "pending"  # "done", "failed" or "no-fit" once the point has ended
    stage: str = ""  # the stage that failed (train, quantize, compile, build, run)
    error: str = ""
    float_accuracy: float | None = None
    int8_accuracy: float | None = None
    macs: int | None = None
    params: int | None = None
    arena_bytes: int | None = None
    scratch_bytes: int | None = None
    weights_bytes: int | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    time_per_inference: int | None = None
    time_unit: str = ""
    board: str = ""
    backend: str = ""
    worker: str = ""  # the Dask worker that ran the point; empty when the sweep ran it itself
    first_failure: str = ""  # on a cluster: the worker and error of a failed first attempt

    @property
    def label(self) -> str:
        return point_label(self.alpha, self.resolution)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Point:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def point_label(alpha: float, resolution: int) -> str:
    """`a0.25_r32`: the short form where it is exact (the names earlier sweeps used), the
    shortest exact form otherwise (`a0.2500001_r32`)."""
    short = f"{alpha:g}"
    return f"a{short if float(short) == alpha else repr(alpha)}_r{resolution}"


def point_file(sweep_dir: Path, alpha: float, resolution: int) -> Path:
    return sweep_dir / "points" / point_label(alpha, resolution) / "point.json"


def load_point(sweep_dir: Path, alpha: float, resolution: int) -> Point | None:
    path = point_file(sweep_dir, alpha, resolution)
    if not path.is_file():
        return None
    try:
        point = Point.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None  # a record from a crash mid-write cannot exist (atomic), but be safe
    if (point.alpha, point.resolution) != (alpha, resolution):
        raise UserError(
            f"{path} holds the point alpha {point.alpha!r}, resolution {point.resolution}, not "
            f"alpha {alpha!r}, resolution {resolution} (a sweep made before points were named "
            "by their exact parameters): move that folder out of the sweep and rerun"
        )
    return point


def save_point(sweep_dir: Path, point: Point) -> None:
    write_text_atomically(
        point_file(sweep_dir, point.alpha, point.resolution),
        json.dumps(point.to_json(), indent=2) + "\n",
        force=True,
    )


def load_points(sweep_dir: Path) -> list[Point]:
    points = []
    for path in sorted((sweep_dir / "points").glob("*/point.json")):
        try:
            points.append(Point.from_json(json.loads(path.read_text())))
        except (ValueError, TypeError):
            continue
    return sorted(points, key=lambda p: (p.alpha, p.resolution))


def write_results(sweep_dir: Path, points: list[Point], settings: dict) -> None:
    records = [p.to_json() for p in points]
    write_text_atomically(
        sweep_dir / "results.json",
        json.dumps({"settings": settings, "points": records}, indent=2) + "\n",
        force=True,
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(Point)])
    writer.writeheader()
    writer.writerows(records)
    write_text_atomically(sweep_dir / "results.csv", buffer.getvalue(), force=True)


def pareto_front(points: list[Point], cost: str) -> list[Point]:
    """Points that no other point beats: as accurate or better for less `cost`."""
    ordered = sorted(
        (p for p in points if getattr(p, cost) is not None and p.int8_accuracy is not None),
        key=lambda p: (getattr(p, cost), -p.int8_accuracy),
    )
    front, best = [], -1.0
    for point in ordered:
        if point.int8_accuracy > best:
            front.append(point)
            best = point.int8_accuracy
    return front
