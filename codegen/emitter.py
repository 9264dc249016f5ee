# SPDX-License-Identifier: Apache-2.0
"""Writes a lowered, planned model as C99 sources with Jinja2 templates.

Output folder:
  <prefix>_model.h    the API, sizes, shapes and quantization, provenance
  <prefix>_model.c    the arena and one kernel call per layer
  <prefix>_weights.h  declarations of the const arrays, included by both .c files
  <prefix>_weights.c  const arrays (weights, folded biases, per-channel multipliers and shifts)
  kernels/            the portable kernel sources those calls need, so the folder builds alone
  cmsis-nn/           with the cmsis-nn backend: CMSIS-NN's headers, the sources its calls need
                      and its licence, copied from the verified CMSIS-NN tree

Same model, same bytes: nothing time- or path-dependent is written. Existing files are never
overwritten without `force`; the files are written into a temporary folder beside the output
and moved into place at the end (mcu_mobilenet/io.py: all or nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from mcu_mobilenet import __version__
from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.backends.base import Backend
from mcu_mobilenet.compiler.backends.cmsis_nn_library import LibraryFiles
from mcu_mobilenet.compiler.backends.registry import get_backend
from mcu_mobilenet.compiler.compilation import Compilation
from mcu_mobilenet.compiler.kernel_call import ConstArray, Layer
from mcu_mobilenet.compiler.planner import Plan
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import (
    check_folder_outputs,
    write_folder,
)

# The generated files, <prefix>_<name>, each from templates/<name>.j2.
TEMPLATES = ("model.h", "model.c", "weights.h", "weights.c")
C_KEYWORDS = set(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch "
    "typedef union unsigned void volatile while _Bool _Complex _Imaginary".split()
)
CTYPES = {"int8": "int8_t", "float32": "float"}
VALUES_PER_LINE = 24
LINE_WIDTH = 100  # where generated calls wrap (clang-format keeps the breaks it is given)
MAX_PREFIX = 64  # it names the files (<prefix>_weights.c) and every C symbol


def check_prefix(prefix: str) -> None:
    if len(prefix or "") > MAX_PREFIX:
        raise UserError(
            f"prefix {prefix[:20]!r}... has {len(prefix)} characters; use at most {MAX_PREFIX} "
            "(it names the files and every C symbol)"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix or ""):
        raise UserError(
            f"prefix {prefix!r} is not a valid C identifier; use letters, digits and "
            "underscores, not starting with a digit (for example: person_detect)"
        )
    if prefix in C_KEYWORDS:
        raise UserError(f"prefix {prefix!r} is a C keyword; choose another name")
    if prefix.startswith("__") or re.match(r"_[A-Z]", prefix):
        raise UserError(f"prefix {prefix!r} is reserved in C (leading __ or _ and a capital)")


@dataclass
class EmittedFiles:
    sources: list[Path]  # .c files to compile
    include_dirs: list[Path]
    files: list[Path]  # everything written
    library_sources: list[Path]  # the sources among them that are the library's (CMSIS-NN's)


def output_paths(out_dir: Path, prefix: str, layers: list[Layer]) -> list[Path]:
    """The generated files and the kernel files of our own backends (not a library's)."""
    return [
        *(out_dir / f"{prefix}_{name}" for name in TEMPLATES),
        *(out_dir / "kernels" / name for name in _kernel_files(layers)),
    ]


def _by_backend(layers: list[Layer]) -> dict[Backend, list[Layer]]:
    """The code layers of each backend the model calls, in order of first use."""
    groups: dict[str, list[Layer]] = {}
    for layer in layers:
        if not layer.alias:
            groups.setdefault(layer.library, []).append(layer)
    return {get_backend(name): group for name, group in groups.items()}


def _kernel_files(layers: list[Layer]) -> dict[str, Path]:
    """Name in the output's kernels/ -> source, for every kernel file the layers need."""
    files: dict[str, Path] = {}
    for backend, group in _by_backend(layers).items():
        files.update(backend.kernel_files(group))
    return dict(sorted(files.items()))


def _library_copies(out_dir: Path, library: LibraryFiles | None) -> dict[Path, Path]:
    """Destination -> source of every library file the generated code needs."""
    if library is None:
        return {}
    names = (*library.notices, *library.headers, *library.sources)
    return {out_dir / library.name / name: library.root / name for name in names}


def emit(
    compilation: Compilation, out_dir: str | Path, prefix: str, force: bool = False
) -> EmittedFiles:
    """Writes the compilation's sources, and the kernel and library files they need, into
    out_dir."""
    check_prefix(prefix)
    layers = compilation.layers
    library, target = compilation.library, compilation.target
    out_dir = Path(out_dir)
    paths = output_paths(out_dir, prefix, layers)
    copies = _library_copies(out_dir, library)
    names = [str(path.relative_to(out_dir)) for path in (*paths, *copies)]
    check_folder_outputs(out_dir, names, force)  # before the work of rendering
    context = _template_context(compilation, prefix)
    context.update(
        library_version=library.version if library else "",
        target_description=target.describe() if target else "",
    )
    environment = _environment()
    generated, kernels = paths[: len(TEMPLATES)], paths[len(TEMPLATES) :]
    texts = {
        path: environment.get_template(f"{name}.j2").render(context)
        for path, name in zip(generated, TEMPLATES, strict=True)
    }
    sources_of = _kernel_files(layers)
    for path in kernels:
        texts[path] = sources_of[path.name].read_text()
    contents = {str(path.relative_to(out_dir)): text.encode() for path, text in texts.items()}
    for path, source in copies.items():
        contents[str(path.relative_to(out_dir))] = source.read_bytes()
    write_folder(out_dir, contents, force)  # all or nothing
    library_sources = [path for path in copies if path.suffix == ".c"]
    sources = [p for p in paths if p.suffix == ".c"] + library_sources
    include_dirs = [out_dir, out_dir / "kernels"]
    if library is not None:
        include_dirs.append(out_dir / library.name / "Include")
    return EmittedFiles(sources, include_dirs, [*paths, *copies], library_sources)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.globals.update(braced=braced, c_call=c_call)
    return environment


def c_float(value: float) -> str:
    """A float literal that reads back as exactly the same float32."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(ch in text for ch in ".e"):
        text += ".0"
    return text + "f"


def format_values(values: np.ndarray) -> str:
    """An array initialiser's values, VALUES_PER_LINE a line; the closing brace follows the
    last value, as clang-format places it."""
    flat = np.ascontiguousarray(values).reshape(-1).tolist()
    lines = [
        "    " + ", ".join(map(str, flat[start : start + VALUES_PER_LINE]))
        for start in range(0, len(flat), VALUES_PER_LINE)
    ]
    return ",\n".join(lines) + "};"


def braced(values) -> str:
    """A braced initialiser list, spaced as clang-format spaces it: {1, 2, 3}."""
    return "{" + ", ".join(str(value) for value in values) + "}"


def c_call(indent: int, function: str, arguments: list, before: str = "", after: str = ";") -> str:
    """`before function(arguments)after`, indented: the arguments fill lines of at most
    LINE_WIDTH columns, and continuation lines start after the opening parenthesis (where
    clang-format aligns them)."""
    line = " " * indent + before + function + "("
    column = len(line)
    lines = []
    for number, argument in enumerate(arguments):
        last = number == len(arguments) - 1
        piece = f"{argument}" + (")" + after if last else ",")
        if len(line) > column and len(line) + 1 + len(piece) > LINE_WIDTH:
            lines.append(line)
            line = " " * column + piece
        else:
            line += (" " if len(line) > column else "") + piece
    lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class _BackendView:
    name: str
    summary: str
    calls_template: str
    layer_count: int


@dataclass
class _ArrayView:
    symbol: str
    ctype: str
    length: int
    index: int
    op: str
    description: str
    body: str


class _LayerView:
    """What the call templates see of one layer."""

    def __init__(self, layer: Layer, plan: Plan, prefix: str):
        self.layer = layer
        self.plan = plan
        self.prefix = prefix
        self.p = layer.params
        self.kernel = layer.kernel
        self.library = layer.library
        self.index = layer.index
        self.op = layer.op
        self.alias = layer.alias
        self.shapes = layer.shapes()
        self.output_offset = plan.offset(layer.output)
        self.output_bytes = layer.output.nbytes
        self.output = f"arena + {self.output_offset}"

    def input(self, slot: int) -> str:
        return f"arena + {self.plan.offset(self.layer.inputs[slot])}"

    def const(self, name: str) -> str:
        return f"{self.prefix}_l{self.index}_{name}"

    @staticmethod
    def dims(shape) -> str:
        padded = (1,) * (4 - len(shape)) + tuple(shape)
        return braced(int(d) for d in padded)

    @staticmethod
    def float(value: float) -> str:
        return c_float(value)

    @staticmethod
    def nhwc(dims) -> str:
        """A cmsis_nn_dims initialiser."""
        n, h, w, c = (int(d) for d in dims)
        return f"{{.n = {n}, .h = {h}, .w = {w}, .c = {c}}}"

    @staticmethod
    def tile(height_width) -> str:
        """A cmsis_nn_tile initialiser from a (height, width) pair."""
        h, w = (int(v) for v in height_width)
        return f"{{.w = {w}, .h = {h}}}"


def _describe(array: ConstArray) -> str:
    return f"{array.name} {array.ctype}{list(array.values.shape)}"


def _template_context(compilation: Compilation, prefix: str) -> dict:
    graph, layers, plan = compilation.graph, compilation.layers, compilation.plan
    model_input = graph.tensors[graph.inputs[0]]
    model_output = graph.tensors[graph.outputs[0]]
    arrays = [
        _ArrayView(
            symbol=f"{prefix}_l{layer.index}_{array.name}",
            ctype=array.ctype,
            length=int(array.values.size),
            index=layer.index,
            op=layer.op,
            description=_describe(array),
            body=format_values(array.values),
        )
        for layer in layers
        for array in layer.constants
    ]
    views = [_LayerView(layer, plan, prefix) for layer in layers]
    groups = _by_backend(layers)
    backends = [
        _BackendView(backend.name, backend.summary, backend.calls_template, len(group))
        for backend, group in groups.items()
    ]
    headers = sorted(
        {header for backend, group in groups.items() for header in backend.headers(group)}
    )
    third_party = {backend.name for backend in groups if backend.requires is not None}

    def quant(tensor: ir.Tensor) -> tuple[str, int]:
        if tensor.quantization is None:  # a float edge: values are real numbers
            return c_float(1.0), 0
        return c_float(tensor.quantization.scale), tensor.quantization.zero_point

    input_scale, input_zero_point = quant(model_input)
    output_scale, output_zero_point = quant(model_output)
    context = dict(
        provenance=provenance(graph),
        prefix=prefix,
        PREFIX=prefix.upper(),
        model_name=Path(graph.source).name,
        arena_bytes=plan.arena_bytes,
        scratch_bytes=compilation.scratch_bytes,
        backends=backends,
        init_checks=[view for view in views if "buffer_check" in view.p],
        library_layers=[view for view in views if view.library in third_party],
        weights_bytes=compilation.weights_bytes,
        layer_count=len(layers),
        macs=compilation.macs,
        input=model_input,
        output=model_output,
        input_ctype=CTYPES[model_input.dtype],
        output_ctype=CTYPES[model_output.dtype],
        input_scale=input_scale,
        input_zero_point=input_zero_point,
        output_scale=output_scale,
        output_zero_point=output_zero_point,
        input_offset=plan.offset(model_input),
        output_offset=plan.offset(model_output),
        kernel_headers=headers,
        arrays=arrays,
        layers=views,
    )
    context["model"] = context  # what a backend's prelude macro sees
    return context


def provenance(graph: ir.Graph) -> str:
    return (
        f"Generated by mcu-mobilenet {__version__} from {Path(graph.source).name} "
        f"(sha256 {graph.sha256}). Do not edit."
    )
