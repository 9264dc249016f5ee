# SPDX-License-Identifier: Apache-2.0
"""A sweep's points as tasks on a Dask cluster (dask.distributed, the `cluster` extra).

Each task runs one whole point on a worker, in a scratch folder there, and returns the
point's record and files; the machine running `sweep` writes them into its own sweep folder
(stage files first, point.json last), so the folder stays the one resumable record of the
sweep whatever happens to the workers. A task starts from the point's finished stages: the
files of earlier attempts travel with it. A worker that dies takes nothing with it: Dask
reruns its tasks elsewhere. A point that fails on a worker (its record says failed, or the
task raised) is reported with that worker's error and run once more on another worker,
from the stages the failed attempt finished.

On the worker, each point runs in a fresh process of its own (sweep/point_process.py says
why). Workers report each point's stages as Dask events; this side prints them as progress
lines.
"""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import write_bytes_atomically
from mcu_mobilenet.sweep.point_process import run_point_in_process
from mcu_mobilenet.sweep.results import Point, load_points, point_label, save_point, write_results
from mcu_mobilenet.sweep.runner import STAGE_PROGRESS, RunPoints, SweepSettings, log

SCHEDULER_VARIABLE = "MCU_MOBILENET_SCHEDULER"
INSTALL_HINT = "pip install 'mcu-mobilenet[cluster]' (or: pip install 'dask[distributed]')"
# The files of a point's finished stages, in the order they are written back.
STAGE_FILES = ("model.keras", "train.json", "model.tflite", "quantize.json")
# How often the sweep checks that the cluster still has workers while it waits.
WORKER_CHECK_SECONDS = 30.0


@dataclass(frozen=True)
class ClusterChoice:
    """Where the points run: a running scheduler's address, or a local cluster of N processes."""

    scheduler: str | None = None
    local_workers: int = 0


@dataclass
class PointOutcome:
    """What a task sends back: the point's record and its stage files."""

    point: Point
    files: dict[str, bytes]
    worker: str


@dataclass
class _Attempt:
    alpha: float
    resolution: int
    number: int = 1
    first_failure: str = ""
    failed_on: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return point_label(self.alpha, self.resolution)


def import_distributed():
    """dask.distributed, or a one-line error saying how to install it."""
    try:
        import distributed  # optional: only cluster sweeps need it
    except ImportError:
        raise UserError(f"sweeps on a Dask cluster need Dask: {INSTALL_HINT}") from None
    return distributed


def run_point_task(
    alpha: float,
    resolution: int,
    settings: SweepSettings,
    data_location: str,
    stage_files: dict[str, bytes],
    topic: str,
) -> PointOutcome:
    """Runs on a worker: one whole point, from the stages `stage_files` hold."""
    from distributed import get_worker

    worker = get_worker()
    label = point_label(alpha, resolution)

    def progress(stage: str) -> None:
        log(f"{label}: {STAGE_PROGRESS[stage]}")
        worker.log_event(topic, {"label": label, "stage": stage, "worker": worker.address})

    with tempfile.TemporaryDirectory(
        prefix="mcu-mobilenet-point-", dir=worker.local_directory
    ) as scratch:
        folder = Path(scratch) / "points" / label
        folder.mkdir(parents=True)
        for name, content in stage_files.items():
            (folder / name).write_bytes(content)
        point = run_point_in_process(
            Path(scratch), alpha, resolution, settings, data_location, progress
        )
        files = {
            name: (folder / name).read_bytes() for name in STAGE_FILES if (folder / name).is_file()
        }
    return PointOutcome(point, files, worker.address)


@contextmanager
def connect(choice: ClusterChoice) -> Iterator[RunPoints]:
    """Connects to the cluster (or starts the local one) and yields what runs a sweep's
    pending points on it; the cluster is let go (a local one stopped) on leaving."""
    distributed = import_distributed()
    with _client(distributed, choice) as client:
        _describe_cluster(client)
        yield functools.partial(_run_points, distributed, client)


def _run_points(
    distributed,
    client,
    sweep_dir: Path,
    pending: list[tuple[float, int]],
    settings: SweepSettings,
    finished: int,
    total: int,
) -> None:
    """Runs the pending points on the cluster; saves each one's record as it ends."""
    address = client.scheduler.address
    topic = f"mcu-mobilenet-sweep-{uuid.uuid4().hex}"
    client.subscribe_topic(topic, _print_progress)
    data_location = _data_location(settings.data)
    outstanding = {}
    for alpha, resolution in pending:
        attempt = _Attempt(alpha, resolution)
        outstanding[_submit(client, sweep_dir, settings, data_location, topic, attempt)] = attempt
        log(f"{attempt.label}: queued")
    ended = finished
    while outstanding:
        try:
            done, _ = distributed.wait(
                list(outstanding), timeout=WORKER_CHECK_SECONDS, return_when="FIRST_COMPLETED"
            )
        except TimeoutError:
            _warn_if_no_workers(client, address)
            continue
        for future in done:
            attempt = outstanding.pop(future)
            outcome = _outcome(client, future, attempt, settings, address)
            _save_stage_files(sweep_dir, outcome)
            if outcome.point.status == "failed" and attempt.number == 1:
                retry = _retry(client, attempt, outcome)
                if retry is not None:
                    future = _submit(client, sweep_dir, settings, data_location, topic, retry)
                    outstanding[future] = retry
                    continue
            outcome.point.worker = outcome.worker
            outcome.point.first_failure = attempt.first_failure
            save_point(sweep_dir, outcome.point)
            write_results(sweep_dir, load_points(sweep_dir), settings.to_json())
            ended += 1
            where = f" on {outcome.worker}" if outcome.worker else ""
            log(f"[{ended}/{total}] {attempt.label}: {outcome.point.status}{where}")


@contextmanager
def _client(distributed, choice: ClusterChoice) -> Iterator:
    if choice.local_workers:
        log(f"starting a local Dask cluster of {choice.local_workers} worker processes")
        # TensorFlow keeps its default thread count, as in a local sweep: the int8 model's
        # calibration rounds differently with other thread counts, and so would the table.
        with (
            distributed.LocalCluster(
                n_workers=choice.local_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(choice.scheduler)
    except (OSError, ValueError, TypeError) as error:
        raise UserError(
            f"cannot reach the Dask scheduler at {choice.scheduler} ({error}); start one with "
            "`dask scheduler` and give its address as --scheduler tcp://HOST:PORT"
        ) from None
    with client:
        yield client


def _describe_cluster(client) -> None:
    address = client.scheduler.address
    try:
        log(f"Dask dashboard: {client.dashboard_link}")
    except (KeyError, AttributeError):
        log(f"the scheduler at {address} has no dashboard (it needs bokeh)")
    workers = _workers(client)
    log(f"{len(workers)} workers at {address}")
    if not workers:
        log(f"the points wait for workers: start them with `dask worker {address}`")


def _warn_if_no_workers(client, address: str) -> None:
    if not _workers(client):
        log(f"no workers at {address}: the points wait; start one with `dask worker {address}`")


def _print_progress(event: tuple[float, dict]) -> None:
    _, message = event
    stage = STAGE_PROGRESS.get(message.get("stage"), message.get("stage"))
    log(f"{message.get('label')}: {stage} on {message.get('worker')}")


def _data_location(data: str) -> str:
    """Workers read the data where this machine has it (a path all of them see), unless the
    data is made on the spot."""
    if data.partition(":")[0] == "synthetic":
        return data
    return str(Path(data).resolve())


def _submit(client, sweep_dir, settings, data_location, topic, attempt: _Attempt):
    import dask

    folder = sweep_dir / "points" / attempt.label
    stage_files = {
        name: (folder / name).read_bytes() for name in STAGE_FILES if (folder / name).is_file()
    }
    others = _workers(client) - set(attempt.failed_on) if attempt.failed_on else set()
    # The stage files travel inside the task on purpose: the scheduler keeps them, so they
    # outlive any worker (scattered data would die with the worker holding it).
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1GiB"}):
        return client.submit(
            run_point_task,
            attempt.alpha,
            attempt.resolution,
            settings,
            data_location,
            stage_files,
            topic,
            key=f"sweep-{attempt.label}-{attempt.number}-{uuid.uuid4().hex[:8]}",
            pure=False,
            workers=sorted(others) or None,
            allow_other_workers=bool(others),  # never wait forever for a worker that left
        )


def _workers(client) -> set[str]:
    return set(client.nthreads())  # every worker's address (scheduler_info lists a few)


def _outcome(client, future, attempt: _Attempt, settings: SweepSettings, address: str):
    """The task's outcome; a task that raised becomes a failed point with the error."""
    if future.status == "finished":
        return future.result()
    if future.status == "cancelled":
        raise UserError(
            f"lost the Dask scheduler at {address} (the point {attempt.label} was cancelled); "
            "the finished points are saved: rerun the same command to resume"
        )
    error = future.exception()
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, ImportError):
        detail += f" (install the project on every worker: {INSTALL_HINT})"
    worker = ", ".join(_erred_on(client, future.key))
    point = Point(
        attempt.alpha,
        attempt.resolution,
        status="failed",
        stage="task",
        error=detail,
        board=settings.board,
        backend=settings.backend,
    )
    log(f"{attempt.label}: the task failed{' on ' + worker if worker else ''}: {detail}")
    return PointOutcome(point, {}, worker)


def _erred_on(client, key: str) -> list[str]:
    """The workers where a task raised (the scheduler knows; the exception does not say)."""

    def erred_on(dask_scheduler, key):
        task = dask_scheduler.tasks.get(key)
        return sorted(task.erred_on) if task is not None else []

    try:
        return client.run_on_scheduler(erred_on, key=key)
    except Exception:  # a scheduler that refuses to run functions: the error says enough
        return []


def _save_stage_files(sweep_dir: Path, outcome: PointOutcome) -> None:
    folder = sweep_dir / "points" / outcome.point.label
    for name in STAGE_FILES:  # model.keras before train.json, as run_point writes them
        content = outcome.files.get(name)
        path = folder / name
        if content is not None and not (path.is_file() and path.read_bytes() == content):
            write_bytes_atomically(path, content, force=True)


def _retry(client, attempt: _Attempt, outcome: PointOutcome) -> _Attempt | None:
    """The second and last attempt, on another worker if there is one."""
    point = outcome.point
    where = outcome.worker or "a worker"
    failure = f"on {where}: at {point.stage}: {point.error}"
    failed_on = [w for w in outcome.worker.split(", ") if w]
    if not (_workers(client) - set(failed_on)):
        log(f"{attempt.label}: failed {failure}; no other worker to retry it on")
        return None
    log(f"{attempt.label}: failed {failure}; retrying it on another worker")
    return _Attempt(attempt.alpha, attempt.resolution, 2, failure, failed_on)


def scheduler_from_environment() -> str | None:
    return os.environ.get(SCHEDULER_VARIABLE) or None
