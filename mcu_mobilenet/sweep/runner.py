# SPDX-License-Identifier: Apache-2.0
"""The alpha x resolution sweep: for each point, check the fit, train (or reuse the cached
model), quantize, compile, build and time on the board, and record everything.

Layout of a sweep folder:
  sweep.json                the settings every point was made with
  points/<label>/           one folder per (alpha, resolution):
    model.keras, train.json     the trained float model and its settings and metrics
    model.tflite, quantize.json the int8 model and its float and int8 accuracy
    point.json                  the point's record, written last: the point has ended
  results.json, results.csv the records of every ended point

Resuming: a point with a point.json is never redone; a point without one restarts from its
last finished stage (a model.keras whose train.json shows the same settings is reused, and
a model.tflite whose quantize.json names that model's content hash). Every file is written
atomically (a temporary file renamed into place), so a killed sweep leaves no half-written
file behind; the next run removes the temporary files a kill left. `sweep.lock` keeps a
second sweep out of a folder while one runs.
Points that cannot fit the board (arena, weights: exact, from the compiler's plan of the
family's graph) are recorded as "no-fit" before any training.
On a Dask cluster (sweep/cluster.py) each point runs on a worker and its files come back
here, into the same layout.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import hashlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing import active_children, get_context
from pathlib import Path

from mcu_mobilenet import processes
from mcu_mobilenet.boards import load_board
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import atomic_path, write_text_atomically
from mcu_mobilenet.model import synthetic
from mcu_mobilenet.model.counting import count_network
from mcu_mobilenet.model.data import load_data
from mcu_mobilenet.model.evaluation import float_accuracy, tflite_accuracy
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.model.int8_conversion import quantize_int8, summarize_tflite
from mcu_mobilenet.model.keras_builder import build_mobilenet
from mcu_mobilenet.model.loading import load_float_model
from mcu_mobilenet.model.tf_env import quiet_tensorflow
from mcu_mobilenet.model.training import TrainSettings, seed_everything, train_classifier
from mcu_mobilenet.sweep.prediction import plan_member
from mcu_mobilenet.sweep.results import Point, load_point, load_points, save_point, write_results
from mcu_mobilenet.workflow.benchmark import bench_on_board
from mcu_mobilenet.workflow.firmware import check_model_fits

BENCH_RUNS = 3
# What a point's progress line says while it is at each stage.
STAGE_PROGRESS = {
    "fit": "checking the fit",
    "train": "training",
    "quantize": "quantizing",
    "run": "timing",
}
# The temporary files of io.atomic_path: `.<name>.<random>.partial<suffix>`.
PARTIAL_FILE_PATTERN = ".*.partial*"


@dataclass(frozen=True)
class SweepSettings:
    data: str
    board: str
    backend: str = registry.DEFAULT
    channels: int = 3
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 0.005
    seed: int = 0
    calibration_samples: int = 200
    held_out: float = 0.2

    def to_json(self) -> dict:
        return asdict(self)


# Runs the pending (alpha, resolution) points of a sweep folder and saves each one's record
# there: (sweep_dir, pending, settings, points already ended, points in the grid).
RunPoints = Callable[[Path, list[tuple[float, int]], SweepSettings, int, int], None]


def log(message: str) -> None:
    print(f"sweep: {message}", file=sys.stderr, flush=True)


def run_sweep(
    sweep_dir: Path,
    alphas: list[float],
    resolutions: list[int],
    settings: SweepSettings,
    jobs: int = 1,
    port: str | None = None,
    run_elsewhere: RunPoints | None = None,
) -> list[Point]:
    """Runs every point not yet ended; returns the records of all ended points. `port`: the
    serial port of a real board (one board times one point at a time); `run_elsewhere`: runs
    the pending points instead of this machine (a Dask cluster: sweep/cluster.py)."""
    if port is not None and jobs > 1:
        raise UserError("--port times every point on one board: run with --jobs 1")
    _check_settings(sweep_dir, settings)
    with _sweep_lock(sweep_dir):
        _remove_partial_files(sweep_dir)
        # A value given twice is one point, run once.
        grid = list(dict.fromkeys((a, r) for a in alphas for r in resolutions))
        pending = [(a, r) for a, r in grid if load_point(sweep_dir, a, r) is None]
        finished = len(grid) - len(pending)
        if finished:
            log(f"{finished} of {len(grid)} points already done in {sweep_dir}; resuming")
        if run_elsewhere is not None and pending:
            run_elsewhere(sweep_dir, pending, settings, finished, len(grid))
        elif jobs <= 1 or len(pending) <= 1:
            for number, (alpha, resolution) in enumerate(pending, start=1):
                log(f"[{finished + number}/{len(grid)}] alpha {alpha!r}, resolution {resolution}")
                run_point(sweep_dir, alpha, resolution, settings, port)
                write_results(sweep_dir, load_points(sweep_dir), settings.to_json())
        else:
            _run_parallel(sweep_dir, pending, settings, jobs, finished, len(grid))
        points = load_points(sweep_dir)
        write_results(sweep_dir, points, settings.to_json())
    return points


@contextmanager
def _sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """One sweep at a time in a folder. The lock dies with its process, even on SIGKILL, so a
    killed sweep never blocks the next run."""
    with open(sweep_dir / "sweep.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"another sweep is running in {sweep_dir}; wait for it or choose another -o folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_partial_files(sweep_dir: Path) -> None:
    """Temporary files of writes that a kill interrupted: never read, only in the way."""
    for folder in (sweep_dir, *(sweep_dir / "points").glob("*/")):
        for path in folder.glob(PARTIAL_FILE_PATTERN):
            if path.is_file():
                path.unlink()


def _run_parallel(sweep_dir, pending, settings, jobs, finished, total) -> None:
    # Each point gets its own process (spawned: TensorFlow does not survive fork) and its
    # share of the cores.
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(threads, os.getpid())
    ) as pool:
        futures = {
            pool.submit(_run_point_in_worker, sweep_dir, alpha, resolution, settings): (
                alpha,
                resolution,
            )
            for alpha, resolution in pending
        }
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                alpha, resolution = futures[future]
                point = future.result()
                log(
                    f"[{finished + done}/{total}] alpha {alpha!r}, resolution {resolution}: "
                    f"{point.status}"
                )
                write_results(sweep_dir, load_points(sweep_dir), settings.to_json())
        except BaseException:  # killed or failed: end the points, do not wait for them
            for worker in active_children():
                worker.terminate()
            raise


def _start_worker(threads: int, parent_pid: int) -> None:
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    for number in processes.TERMINATING_SIGNALS:
        signal.signal(number, _leave_idle_worker)
    processes.die_with_parent(parent_pid)


def _leave_idle_worker(number: int, frame) -> None:
    raise SystemExit(128 + number)  # between points: an ordinary exit, exit handlers and all


def _run_point_in_worker(*arguments) -> Point:
    """run_point in a pool worker. A SIGTERM unwinds the point (its emulator ended, its
    folders removed), then the worker leaves without taking another point from the pool,
    after the interpreter's exit handlers (TensorFlow's remove its temporary files)."""
    try:
        with processes.terminating_signals_raise():
            return run_point(*arguments)
    except processes.Terminated as terminated:
        atexit._run_exitfuncs()
        os._exit(128 + terminated.signal_number)


def _check_settings(sweep_dir: Path, settings: SweepSettings) -> None:
    path = sweep_dir / "sweep.json"
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != settings.to_json():
            changed = sorted(
                k for k in settings.to_json() if recorded.get(k) != getattr(settings, k)
            )
            raise UserError(
                f"{sweep_dir} holds a sweep made with other settings ({', '.join(changed)} "
                "differ); resume it with the same settings or choose another -o folder"
            )
        return
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise UserError(f"{sweep_dir} is not empty and holds no sweep; choose another -o folder")
    write_text_atomically(path, json.dumps(settings.to_json(), indent=2) + "\n")


def run_point(
    sweep_dir: Path,
    alpha: float,
    resolution: int,
    settings: SweepSettings,
    port: str | None = None,
    progress: Callable[[str], None] | None = None,
    data_location: str | None = None,
) -> Point:
    """Runs one point to its end and saves its record; never raises for the point's failure.
    `progress` hears each stage as it starts (a log line by default); `data_location` is
    where this machine reads `settings.data` from, if not there."""
    point = Point(alpha, resolution, board=settings.board, backend=settings.backend)
    folder = sweep_dir / "points" / point.label
    folder.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda stage: log(f"{point.label}: {STAGE_PROGRESS[stage]}"))
    source = data_location or settings.data
    stage = "fit"
    data = functools.cache(lambda: _point_data(point, settings, source))  # if a stage needs it
    try:
        report(stage)
        fits = _predict_and_check_fit(point, settings, source)
        if fits:
            stage = "train"
            report(stage)
            model_path = _train(folder, point, settings, data)
            stage = "quantize"
            report(stage)
            tflite = _quantize(folder, model_path, point, settings, data)
            stage = "run"
            report(stage)
            _measure(tflite, point, settings, port)
            point.status = "done"
    except UserError as error:
        point.status, point.stage, point.error = "failed", stage, str(error)
    except Exception as error:  # a failing point is recorded; the sweep goes on
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        point.status, point.stage, point.error = "failed", stage, detail
    if point.status == "failed":
        log(f"{point.label}: failed at {point.stage}: {point.error}")
    save_point(sweep_dir, point)
    return point


def _config(point: Point, settings: SweepSettings, classes: int):

    return MobileNetConfig(
        alpha=point.alpha, resolution=point.resolution, channels=settings.channels, classes=classes
    )


def _predict_and_check_fit(point: Point, settings: SweepSettings, source: str) -> bool:
    """Exact arena, scratch, weights and mult-adds from the family's graph compiled for the
    board; False if it cannot fit."""

    board = load_board(settings.board)
    config = _config(point, settings, _data_classes(settings, source))
    member = plan_member(config, settings.backend, board)
    count = count_network(config)
    point.macs = count.macs
    point.params = count.params
    point.arena_bytes = member.plan.arena_bytes
    point.scratch_bytes = member.scratch_bytes
    point.weights_bytes = member.weights_bytes
    try:
        check_model_fits(
            board, config.label, point.weights_bytes, point.arena_bytes, point.scratch_bytes
        )
    except UserError as error:
        point.status, point.stage, point.error = "no-fit", "fit", str(error)
        # What the rejection rests on: the weights in flash; arena, scratch and stack in RAM.
        point.flash_bytes = point.weights_bytes
        point.ram_bytes = point.arena_bytes + point.scratch_bytes + board.stack_bytes
        log(f"{point.label}: does not fit: {error}")
        return False
    return True


def _data_classes(settings: SweepSettings, source: str) -> int:

    if source.partition(":")[0] == "synthetic":
        return len(synthetic.CLASS_NAMES)
    # The class count does not depend on the resolution: read the data at the smallest one.
    data = load_data(source, 32, settings.channels, settings.held_out, log=lambda message: None)
    return len(data.class_names)


def _point_data(point: Point, settings: SweepSettings, source: str):

    return load_data(
        source,
        point.resolution,
        settings.channels,
        settings.held_out,
        log=lambda message: None,
    )


def _train(folder: Path, point: Point, settings: SweepSettings, data: Callable) -> Path:

    model_path, record_path = folder / "model.keras", folder / "train.json"
    wanted = {"alpha": point.alpha, "resolution": point.resolution, **settings.to_json()}
    if model_path.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("settings") == wanted:
            log(f"{point.label}: reusing the trained model {model_path}")
            return model_path
    quiet_tensorflow()
    config = _config(point, settings, len(data().class_names))
    seed_everything(settings.seed)
    model = build_mobilenet(config)
    train = TrainSettings(
        settings.epochs, settings.batch_size, settings.learning_rate, settings.seed
    )
    start = time.perf_counter()
    history = train_classifier(
        model, data(), train, log=lambda message: log(f"{point.label}: {message}")
    )
    with atomic_path(model_path) as temporary:
        model.save(temporary)
    record = {
        "settings": wanted,
        "seconds": round(time.perf_counter() - start, 1),
        "epochs": [epoch.as_dict() for epoch in history],
    }
    write_text_atomically(record_path, json.dumps(record, indent=2) + "\n", force=True)
    return model_path


def _quantize(
    folder: Path, model_path: Path, point: Point, settings: SweepSettings, data: Callable
) -> Path:

    tflite, record_path = folder / "model.tflite", folder / "quantize.json"
    # Keyed by content, not time: a point's files travel between machines on a cluster.
    model_hash = hashlib.sha256(model_path.read_bytes()).hexdigest()
    if tflite.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("model_sha256") == model_hash:
            point.float_accuracy = record["float_accuracy"]
            point.int8_accuracy = record["int8_accuracy"]
            return tflite
    model = load_float_model(model_path)
    content = quantize_int8(model, data().train.first(settings.calibration_samples).images)
    summary = summarize_tflite(content, str(tflite))
    point.float_accuracy = float_accuracy(model, data().held_out).top1
    with atomic_path(tflite) as temporary:
        temporary.write_bytes(content)
        point.int8_accuracy = tflite_accuracy(
            temporary, summary, data().held_out, log=lambda message: None
        ).top1
    record = {
        "model_sha256": model_hash,
        "float_accuracy": point.float_accuracy,
        "int8_accuracy": point.int8_accuracy,
    }
    write_text_atomically(record_path, json.dumps(record, indent=2) + "\n", force=True)
    return tflite


def _measure(tflite: Path, point: Point, settings: SweepSettings, port: str | None) -> None:

    report = bench_on_board(
        tflite,
        load_board(settings.board),
        settings.backend,
        port,
        runs=BENCH_RUNS,
        seed=settings.seed,
        tflm=False,
    )
    point.time_per_inference = report["time_per_inference"]
    point.time_unit = report["time_unit"]
    point.flash_bytes = report["flash_bytes"]
    point.ram_bytes = report["ram_bytes"]
