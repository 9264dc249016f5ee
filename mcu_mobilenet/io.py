# SPDX-License-Identifier: Apache-2.0
"""Output files that are never half-written and never silently overwritten.

A single output is written to a temporary file beside its final path and renamed into place
only when complete. A folder of outputs (`write_folder`) is written into a temporary folder
beside its target and moved into place at the end. Every check (existing files, a file where a
folder must be, names too long) comes before the first write, and a file-system error becomes
one UserError naming the path; an error or an interrupt leaves the old files or nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcu_mobilenet.errors import UserError

NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


def refuse_existing(paths: Path | list[Path], force: bool) -> None:
    """Checks the outputs (files or folders) before any work starts: each exists only with
    `force`, and what is above it is a folder or can become one."""
    for path in [paths] if isinstance(paths, Path | str) else paths:
        path = Path(path)
        if _exists(path) and not force:
            raise UserError(f"{path} already exists; pass --force to overwrite it")
        _check_name(path)
        existing_folder(path.parent)


def check_output_file(path: Path, force: bool) -> None:
    """A file may be written at `path` (see refuse_existing), and it is not a folder."""
    path = Path(path)
    if _exists(path) and path.is_dir():
        raise UserError(f"{path} is a folder; give the path of a file")
    refuse_existing(path, force)


def existing_folder(folder: Path) -> Path:
    """The nearest folder at or above `folder` that exists; a file on the way is an error."""
    ancestor = Path(folder)
    while not _exists(ancestor):
        _check_name(ancestor)
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        where = "" if ancestor == Path(folder) else f", so {folder} cannot be created"
        raise UserError(f"{ancestor} is a file, not a folder{where}; choose another output path")
    return ancestor


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as error:  # a name too long, for one
        raise UserError(f"{_short(path)}: {error.strerror}; choose another output path") from None


def _check_name(path: Path) -> None:
    if len(path.name.encode()) > NAME_MAX:
        raise UserError(
            f"{_short(path)}: the file name has {len(path.name.encode())} bytes, more than "
            f"the {NAME_MAX} file systems allow; choose a shorter name"
        )


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:60] + "..." + text[-57:]


def _file_system_error(error: OSError, fallback: Path) -> UserError:
    path = error.filename or fallback
    return UserError(
        f"{_short(Path(path))}: cannot write ({error.strerror}); check the folder's "
        "permissions and free space, or choose another output path"
    )


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path (same folder, same suffix) that becomes `path` on success."""
    path = Path(path)
    existing_folder(path.parent)
    _check_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A short temporary name: the final one may already be as long as names can be.
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=".", suffix=f".partial{path.suffix[:16]}"
        )
        os.close(handle)
        os.unlink(temporary)  # writers such as Keras want to create the file themselves
    except OSError as error:
        raise _file_system_error(error, path) from None
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, path)
    except OSError as error:
        raise _file_system_error(error, path) from None
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


def check_folder_outputs(folder: Path, names: list[str], force: bool) -> Path:
    """Every check `write_folder` makes before writing; returns the nearest existing folder."""
    folder = Path(folder)
    ancestor = existing_folder(folder)
    existing = []
    for name in names:
        target = folder / name
        inside = [folder / part for part in reversed(Path(name).parents) if part != Path(".")]
        for parent in inside:
            _check_name(parent)
            if parent.exists() and not parent.is_dir():
                raise UserError(
                    f"{parent} is a file where the output needs a folder; remove it or "
                    "choose another output folder"
                )
        _check_name(target)
        if target.is_dir():
            raise UserError(f"{target} is a folder where the output needs a file; remove it")
        if target.exists():
            existing.append(target)
    if existing and not force:
        raise UserError(
            f"{existing[0]} already exists ({len(existing)} of the output files do); "
            "pass --force to overwrite them or choose another output folder"
        )
    return ancestor


def write_folder(folder: str | Path, files: dict[str, bytes], force: bool = False) -> list[Path]:
    """Writes `files` (relative name -> content) into `folder`, all or nothing.

    Everything is written into a temporary folder beside the target first. A new folder is
    then renamed into place in one step; into an existing one, each file is renamed into
    place (the other files there are kept)."""
    folder = Path(folder)
    ancestor = check_folder_outputs(folder, list(files), force)
    try:
        staging = Path(tempfile.mkdtemp(dir=ancestor, prefix=".partial-"))
    except OSError as error:
        raise _file_system_error(error, ancestor) from None
    created: list[Path] = []
    try:
        os.chmod(staging, 0o777 & ~_umask())  # as a folder made by mkdir would be
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if folder.exists():
            for name in files:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / name, folder / name)
        else:
            for parent in reversed(folder.parents):
                if not parent.exists():
                    parent.mkdir()
                    created.append(parent)
            os.rename(staging, folder)
    except OSError as error:
        for parent in reversed(created):
            shutil.rmtree(parent, ignore_errors=True)
        raise _file_system_error(error, folder) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in files]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
