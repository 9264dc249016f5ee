# SPDX-License-Identifier: Apache-2.0
"""A model file to C sources in a folder: the compiler's analysis, then the code generator.

    result = compile_model("model.tflite", "out/", prefix="model")

Nothing is written unless the whole model is supported and the prefix is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from mcu_mobilenet.codegen.emitter import check_prefix, emit
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.compiler.compilation import Compilation, analyze
from mcu_mobilenet.compiler.target import Target


@dataclass
class CompileResult(Compilation):
    out_dir: Path = Path()
    prefix: str = "model"
    sources: list[Path] = None  # every .c file to build
    include_dirs: list[Path] = None
    files: list[Path] = None  # everything written
    library_sources: list[Path] = None  # the sources among them that are CMSIS-NN's


def compile_model(
    model_path: str | Path,
    out_dir: str | Path,
    prefix: str = "model",
    backend: str = registry.DEFAULT,
    force: bool = False,
    target: Target | None = None,
) -> CompileResult:
    check_prefix(prefix)  # before the model is read: a bad prefix fails at once
    return write_sources(analyze(model_path, backend, target), out_dir, prefix, force)


def write_sources(
    compilation: Compilation, out_dir: str | Path, prefix: str = "model", force: bool = False
) -> CompileResult:
    """Writes a compilation's C sources into out_dir (see codegen/emitter.py)."""
    files = emit(compilation, out_dir, prefix, force)
    analysed = {field.name: getattr(compilation, field.name) for field in fields(Compilation)}
    return CompileResult(
        **analysed,
        out_dir=Path(out_dir),
        prefix=prefix,
        sources=files.sources,
        include_dirs=files.include_dirs,
        files=files.files,
        library_sources=files.library_sources,
    )
