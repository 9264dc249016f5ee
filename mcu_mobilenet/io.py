# SPDX-License-Identifier: Apache-2.0
"""Output files that are never half-written and never silently overwritten.

Each output is written to a temporary file beside its final path and renamed into place only
when complete, so an error or an interrupt leaves either the old file or nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcu_mobilenet.errors import UserError


def refuse_existing(paths: Path | list[Path], force: bool) -> None:
    """Checks the outputs before any work starts."""
    if force:
        return
    for path in [paths] if isinstance(paths, Path) else paths:
        if Path(path).exists():
            raise UserError(f"{path} already exists; pass --force to overwrite it")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path (same folder, same suffix) that becomes `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".partial{path.suffix}"
    )
    os.close(handle)
    os.unlink(temporary)  # writers such as Keras want to create the file themselves
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, path)
    finally:
        if temporary_path.exists():
            temporary_path.unlink()


def write_bytes_atomically(path: str | Path, data: bytes, force: bool = False) -> None:
    refuse_existing(Path(path), force)
    with atomic_path(Path(path)) as temporary:
        temporary.write_bytes(data)


def write_text_atomically(path: str | Path, text: str, force: bool = False) -> None:
    write_bytes_atomically(path, text.encode("utf-8"), force)


def write_json(path: Path, report: dict) -> None:
    """Writes (or replaces) a JSON report: callers check existing outputs first."""
    write_text_atomically(path, json.dumps(report, indent=2) + "\n", force=True)


def report_path(output: Path) -> Path:
    """The JSON report that sits beside an output: model.keras -> model.keras.json."""
    return output.with_name(output.name + ".json")
