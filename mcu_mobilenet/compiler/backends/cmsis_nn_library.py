# SPDX-License-Identifier: Apache-2.0
"""Which CMSIS-NN source files a set of its functions needs, found by reading the sources.

CMSIS-NN keeps (nearly) one public function per file; a file's dependencies are the arm_*
functions it calls. The closure from the functions the generated code calls is the set of
files to compile, so a model using four kernels compiles a few dozen files, not all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# A definition starts at column 0 (CMSIS-NN is clang-formatted): return type, then the name.
_DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \t*]*?\b(arm_\w+)\s*\(", re.MULTILINE)
_REFERENCE = re.compile(r"\b(arm_\w+)\s*\(")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


@dataclass(frozen=True)
class LibraryFiles:
    """Files of a library the generated code needs, relative to its root."""

    name: str  # folder name in the generated output, e.g. "cmsis-nn"
    version: str
    root: Path
    headers: tuple[str, ...]
    sources: tuple[str, ...]
    notices: tuple[str, ...]  # licence files shipped beside the sources


def source_closure(root: Path, functions: set[str]) -> tuple[str, ...]:
    """Source files (relative, sorted) defining `functions` and everything they call."""
    defined_in: dict[str, str] = {}
    calls: dict[str, set[str]] = {}
    for path in sorted((root / "Source").rglob("*.c")):
        relative = path.relative_to(root).as_posix()
        code = _COMMENT.sub("", path.read_text(errors="replace"))
        for name in _DEFINITION.findall(code):
            defined_in.setdefault(name, relative)
        calls[relative] = set(_REFERENCE.findall(code))
    missing = sorted(name for name in functions if name not in defined_in)
    if missing:
        raise ValueError(f"CMSIS-NN at {root} defines none of: {', '.join(missing)}")
    needed: set[str] = set()
    pending = sorted(defined_in[name] for name in functions)
    while pending:
        relative = pending.pop()
        if relative in needed:
            continue
        needed.add(relative)
        pending.extend(defined_in[name] for name in calls[relative] if name in defined_in)
    return tuple(sorted(needed))


def cmsis_nn_files(root: Path, version: str, functions: set[str]) -> LibraryFiles:
    headers = tuple(
        sorted(path.relative_to(root).as_posix() for path in (root / "Include").rglob("*.h"))
    )
    notices = tuple(name for name in ("LICENSE",) if (root / name).is_file())
    sources = source_closure(root, functions)
    return LibraryFiles("cmsis-nn", version, root, headers, sources, notices)
