"""Writing files without ever leaving a half-written one or silently replacing one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mcu_mobilenet.errors import UserError


def refuse_existing(path: Path, force: bool) -> None:
    if Path(path).exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")


def write_bytes_atomically(path: str | Path, data: bytes, force: bool = False) -> None:
    """Writes to a temporary file beside `path`, then renames it into place."""
    path = Path(path)
    refuse_existing(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str, force: bool = False) -> None:
    write_bytes_atomically(path, text.encode("utf-8"), force)
