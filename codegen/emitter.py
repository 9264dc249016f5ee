"""Writes a lowered, planned model as C99 sources with Jinja2 templates.

Output folder:
  <prefix>_model.h    the API, sizes, shapes and quantization, provenance
  <prefix>_model.c    the arena and one kernel call per layer
  <prefix>_weights.c  const arrays (weights, folded biases, per-channel multipliers and shifts)
  kernels/            the portable kernel sources those calls need, so the folder builds alone
  cmsis-nn/           with the cmsis-nn backend: CMSIS-NN's headers, the sources its calls need
                      and its licence, copied from the verified CMSIS-NN tree

Same model, same bytes: nothing time- or path-dependent is written. Existing files are never
overwritten without `force`; every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from mcu_mobilenet import __version__
from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.backends.cmsis_nn_library import LibraryFiles
from mcu_mobilenet.compiler.lowering import ConstArray, Layer
from mcu_mobilenet.compiler.planner import Plan
from mcu_mobilenet.compiler.target import Target
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.io import write_bytes_atomically, write_text_atomically
from mcu_mobilenet.paths import FIRMWARE_DIR

KERNELS_DIR = FIRMWARE_DIR / "kernels"
NATIVE_KERNELS_DIR = KERNELS_DIR / "native"
NATIVE_HEADERS = ("mm_native.h", "mm_native_simd.h")
MVE_MATRIX_CORE = ("mm_native_mve.h", "mm_native_mve_gemm_pair_s8.c")
# The native kernels' sources; the 2x2 matrix core serves the pointwise, conv and FC kernels.
NATIVE_SOURCES = {
    "mm_native_pointwise_s8": ("mm_native_pointwise_s8.c", "mm_native_gemm_pair_s8.c"),
    "mm_native_conv_s8": ("mm_native_conv_s8.c", "mm_native_gemm_pair_s8.c"),
    "mm_native_depthwise_3x3_s8": ("mm_native_depthwise_3x3_s8.c",),
    # Helium (MVE) kernels, emitted for MVE targets only; their header refuses any other CPU.
    "mm_native_mve_pointwise_s8": (*MVE_MATRIX_CORE, "mm_native_mve_pointwise_s8.c"),
    "mm_native_mve_conv_s8": (*MVE_MATRIX_CORE, "mm_native_mve_conv_s8.c"),
    "mm_native_mve_depthwise_3x3_s8": ("mm_native_mve.h", "mm_native_mve_depthwise_3x3_s8.c"),
}
KERNEL_FAMILIES = {
    "mm_conv2d_s8": "mm_conv",
    "mm_conv2d_1x1_s8": "mm_conv",
    "mm_depthwise_conv2d_s8": "mm_depthwise_conv",
    "mm_avg_pool2d_s8": "mm_pooling",
    "mm_mean_hw_s8": "mm_pooling",
    "mm_fully_connected_s8": "mm_fully_connected",
    "mm_softmax_s8": "mm_softmax",
    "mm_add_s8": "mm_elementwise",
    "mm_pad_s8": "mm_elementwise",
    "mm_quantize_f32_s8": "mm_elementwise",
    "mm_dequantize_s8_f32": "mm_elementwise",
    "mm_requantize_s8": "mm_elementwise",
}
COMMON_KERNEL_HEADERS = ("mm_types.h", "mm_fixed_point.h")
C_KEYWORDS = set(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch "
    "typedef union unsigned void volatile while _Bool _Complex _Imaginary".split()
)
CTYPES = {"int8": "int8_t", "float32": "float"}
VALUES_PER_LINE = 24


def check_prefix(prefix: str) -> None:
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
    """The generated files and the portable kernel files (not the library's)."""
    kernel_files = [*COMMON_KERNEL_HEADERS]
    for family in _portable_families(layers):
        kernel_files += [f"{family}.h", f"{family}.c"]
    kernel_files += _native_files(layers)
    return [
        out_dir / f"{prefix}_model.h",
        out_dir / f"{prefix}_model.c",
        out_dir / f"{prefix}_weights.c",
        *(out_dir / "kernels" / name for name in kernel_files),
    ]


def _portable_families(layers: list[Layer]) -> list[str]:
    return sorted(
        {
            KERNEL_FAMILIES[layer.kernel]
            for layer in layers
            if not layer.alias and layer.library == "portable"
        }
    )


def _native_files(layers: list[Layer]) -> list[str]:
    native = [layer for layer in layers if layer.library == "native"]
    sources = sorted({name for layer in native for name in NATIVE_SOURCES[layer.kernel]})
    return [*NATIVE_HEADERS, *sources] if sources else []


def _uses_mve(layers: list[Layer]) -> bool:
    return any("mm_native_mve.h" in NATIVE_SOURCES.get(layer.kernel, ()) for layer in layers)


def _kernel_source(name: str) -> Path:
    native = NATIVE_KERNELS_DIR / name
    return native if native.is_file() else KERNELS_DIR / name


def _library_copies(out_dir: Path, library: LibraryFiles | None) -> dict[Path, Path]:
    """Destination -> source of every library file the generated code needs."""
    if library is None:
        return {}
    names = (*library.notices, *library.headers, *library.sources)
    return {out_dir / library.name / name: library.root / name for name in names}


def emit(
    graph: ir.Graph,
    layers: list[Layer],
    plan: Plan,
    out_dir: str | Path,
    prefix: str,
    force: bool = False,
    library: LibraryFiles | None = None,
    target: Target | None = None,
) -> EmittedFiles:
    check_prefix(prefix)
    out_dir = Path(out_dir)
    paths = output_paths(out_dir, prefix, layers)
    copies = _library_copies(out_dir, library)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder; choose another output folder")
    existing = [p for p in (*paths, *copies) if p.exists()]
    if existing and not force:
        raise UserError(
            f"{existing[0]} already exists ({len(existing)} of the output files do); "
            "pass --force to overwrite them or choose another output folder"
        )
    context = _template_context(graph, layers, plan, prefix)
    context.update(
        library_version=library.version if library else "",
        target_description=target.describe() if target else "",
    )
    environment = _environment()
    texts = {
        paths[0]: environment.get_template("model.h.j2").render(context),
        paths[1]: environment.get_template("model.c.j2").render(context),
        paths[2]: environment.get_template("weights.c.j2").render(context),
    }
    for path in paths[3:]:
        texts[path] = _kernel_source(path.name).read_text()
    for path, text in texts.items():
        write_text_atomically(path, text, force=True)  # existing files were checked above
    for path, source in copies.items():
        write_bytes_atomically(path, source.read_bytes(), force=True)
    library_sources = [path for path in copies if path.suffix == ".c"]
    sources = [paths[1], paths[2], *(p for p in paths[3:] if p.suffix == ".c"), *library_sources]
    include_dirs = [out_dir, out_dir / "kernels"]
    if library is not None:
        include_dirs.append(out_dir / library.name / "Include")
    return EmittedFiles(sources, include_dirs, [*paths, *copies], library_sources)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def c_float(value: float) -> str:
    """A float literal that reads back as exactly the same float32."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(ch in text for ch in ".e"):
        text += ".0"
    return text + "f"


def format_values(values: np.ndarray) -> str:
    flat = np.ascontiguousarray(values).reshape(-1).tolist()
    lines = []
    for start in range(0, len(flat), VALUES_PER_LINE):
        lines.append("    " + ", ".join(map(str, flat[start : start + VALUES_PER_LINE])) + ",")
    return "\n".join(lines)


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
        return "{ " + ", ".join(str(int(d)) for d in padded) + " }"

    @staticmethod
    def float(value: float) -> str:
        return c_float(value)

    @staticmethod
    def nhwc(dims) -> str:
        """A cmsis_nn_dims initialiser."""
        n, h, w, c = (int(d) for d in dims)
        return f"{{ .n = {n}, .h = {h}, .w = {w}, .c = {c} }}"

    @staticmethod
    def tile(height_width) -> str:
        """A cmsis_nn_tile initialiser from a (height, width) pair."""
        h, w = (int(v) for v in height_width)
        return f"{{ .w = {w}, .h = {h} }}"


def _describe(array: ConstArray) -> str:
    return f"{array.name} {array.ctype}{list(array.values.shape)}"


def _template_context(graph: ir.Graph, layers: list[Layer], plan: Plan, prefix: str) -> dict:
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
    families = _portable_families(layers)
    views = [_LayerView(layer, plan, prefix) for layer in layers]

    def quant(tensor: ir.Tensor) -> tuple[str, int]:
        if tensor.quantization is None:  # a float edge: values are real numbers
            return c_float(1.0), 0
        return c_float(tensor.quantization.scale), tensor.quantization.zero_point

    input_scale, input_zero_point = quant(model_input)
    output_scale, output_zero_point = quant(model_output)
    return dict(
        provenance=provenance(graph),
        prefix=prefix,
        PREFIX=prefix.upper(),
        model_name=Path(graph.source).name,
        arena_bytes=plan.arena_bytes,
        arena_alloc=max(plan.arena_bytes, 1),
        scratch_bytes=max((layer.scratch_bytes for layer in layers), default=0),
        cmsis_nn_layers=[view for view in views if view.library == "cmsis-nn"],
        native_layers=[view for view in views if view.library == "native"],
        native_header="mm_native_mve.h" if _uses_mve(layers) else "mm_native.h",
        cmsis_nn_context=any(view.p.get("shared_context") for view in views),
        weights_bytes=sum(layer.weight_bytes for layer in layers),
        layer_count=len(layers),
        macs=sum(layer.macs for layer in layers),
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
        kernel_headers=[f"{family}.h" for family in families],
        arrays=arrays,
        layers=views,
    )


def provenance(graph: ir.Graph) -> str:
    return (
        f"Generated by mcu-mobilenet {__version__} from {Path(graph.source).name} "
        f"(sha256 {graph.sha256}). Do not edit."
    )
