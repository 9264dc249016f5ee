# SPDX-License-Identifier: Apache-2.0
"""Checks what a model means before anything is computed from it.

The reader checks that the bytes are a well-formed flatbuffer; this module checks that the
graph they describe makes sense, so that lowering, planning and code generation only ever see
a consistent model, and a hostile or corrupt file fails fast on one line instead of crashing,
allocating gigabytes or compiling to code that reads stale memory:

- sizes: every tensor's bytes and the sum of all activation bytes (which bounds the arena)
  stay within `Limits`, computed with exact integers before any array is made;
- quantization: scales finite and positive, zero points within their type, per-channel scales
  one per channel;
- the graph: one input and one output, every tensor produced before it is read and written
  once, each op's arity and ranks;
- shapes: each output shape equal to what its op computes from its inputs and options;
- what TFLM refuses (it aborts or fails Prepare): a softmax input scale too small for its
  int8 softmax, an ADD whose output rescaling is not below one, requantization multipliers
  outside the range its kernels can shift.

Every failure is a `ModelError` naming the file, the tensor or op index, the op type, what is
wrong and what to do. Ops that lowering does not support are not shape-checked here: lowering
names them as unsupported.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.errors import UserError

# Bytes per element; a dtype missing here cannot be an activation.
ITEM_BYTES = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "complex64": 8,
    "complex128": 16,
}
INTEGER_RANGES = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
MAX_RANK = 8
# Scales outside this range overflow float32 in TFLM's own arithmetic (6 / scale, for one).
MIN_SCALE, MAX_SCALE = 1e-30, 1e30
# Q31 multipliers with a left shift above this overflow the kernels' 32-bit shifts.
MAX_MULTIPLIER_SHIFT = 31
LIMIT_ENVIRONMENT = "MCU_MOBILENET_MAX_ACTIVATION_BYTES"
DEFAULT_MAX_ACTIVATION_BYTES = 64 * 1024 * 1024  # 64 MiB: far above any microcontroller's RAM
DEFAULT_MAX_OPERATORS = 2000  # MobileNets have 30 to 100; the planner is quadratic in this


class ModelError(UserError):
    """The model is inconsistent, too large, or one that TFLM refuses."""


@dataclass(frozen=True)
class Limits:
    max_activation_bytes: int = DEFAULT_MAX_ACTIVATION_BYTES  # the sum, so also the arena
    max_operators: int = DEFAULT_MAX_OPERATORS

    @classmethod
    def from_environment(cls) -> Limits:
        """The defaults, with MCU_MOBILENET_MAX_ACTIVATION_BYTES overriding the byte cap."""
        text = os.environ.get(LIMIT_ENVIRONMENT)
        if text is None:
            return cls()
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(f"{LIMIT_ENVIRONMENT}={text!r} must be a positive number of bytes")
        return cls(max_activation_bytes=value)


def check_model(graph: ir.Graph, limits: Limits | None = None) -> None:
    """Raises ModelError on the first problem; returns when the model is consistent."""
    _Checker(graph, limits or Limits.from_environment()).run()


def element_count(shape: tuple[int, ...]) -> int:
    """Exact, with Python integers: never wraps like an int64 product of a hostile shape."""
    return math.prod(int(d) for d in shape)


def out_size(padding: str, size: int, filter_size: int, stride: int, dilation: int) -> int:
    """TFLM's ComputeOutSize."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size + stride - effective) // stride


class _Checker:
    def __init__(self, graph: ir.Graph, limits: Limits):
        self.graph = graph
        self.limits = limits
        self.source = graph.source

    # Failures, each on one line.

    def fail(self, where: str, problem: str, hint: str = "the model file is corrupt") -> None:
        raise ModelError(f"{self.source}: {where} {problem}; {hint}")

    def fail_op(self, op: ir.Operator, problem: str, hint: str = "the model file is corrupt"):
        self.fail(f"op {op.index} ({op.opcode})", problem, hint)

    def fail_tensor(self, tensor: ir.Tensor, problem: str, hint: str = "the model file is corrupt"):
        self.fail(f"tensor {tensor.index} ({tensor.name[:80]})", problem, hint)

    def run(self) -> None:
        self._check_graph_shape()
        used = self._used_tensors()
        for index in sorted(used):
            self._check_tensor(self.graph.tensors[index])
        self._check_activation_bytes(used)
        self._check_dataflow()
        for op in self.graph.operators:
            rule = _RULES.get(op.opcode)
            if rule is not None:
                _OpChecker(self, op).check(rule)

    def _check_graph_shape(self) -> None:
        graph = self.graph
        if not graph.operators:
            self.fail("the model", "has no operators", "convert a model that computes something")
        if len(graph.operators) > self.limits.max_operators:
            self.fail(
                "the model",
                f"has {len(graph.operators):,} operators, more than the "
                f"{self.limits.max_operators:,} the compiler accepts",
                "MobileNets have under 100",
            )
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            self.fail(
                "the model",
                f"has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs",
                "only single-input, single-output image classifiers are supported",
            )

    def _used_tensors(self) -> set[int]:
        used = set(self.graph.inputs) | set(self.graph.outputs)
        for op in self.graph.operators:
            used.update(i for i in (*op.inputs, *op.outputs) if i >= 0)
        return used

    def _check_tensor(self, tensor: ir.Tensor) -> None:
        if len(tensor.shape) > MAX_RANK:
            self.fail_tensor(tensor, f"has {len(tensor.shape)} dimensions (at most {MAX_RANK})")
        if not tensor.is_constant:
            if tensor.dtype not in ITEM_BYTES:
                self.fail_tensor(
                    tensor, f"is of type {tensor.dtype}", "convert with int8 activations"
                )
            if 0 in tensor.shape:
                self.fail_tensor(tensor, f"has shape {list(tensor.shape)}, which holds no values")
            nbytes = element_count(tensor.shape) * ITEM_BYTES[tensor.dtype]
            if nbytes > self.limits.max_activation_bytes:
                self.fail_tensor(
                    tensor,
                    f"has shape {_shape(tensor.shape)}: {nbytes:,} bytes, more than the "
                    f"{self.limits.max_activation_bytes:,}-byte cap on activations",
                    f"no microcontroller holds it (raise the cap with {LIMIT_ENVIRONMENT})",
                )
        self._check_quantization(tensor)

    def _check_quantization(self, tensor: ir.Tensor) -> None:
        quant = tensor.quantization
        if quant is None:
            return
        for channel, scale in enumerate(quant.scales):
            where = f"scale {scale!r}" + (f" (channel {channel})" if quant.per_channel else "")
            # Constants may have scale 0 (an all-zero channel); activations need a real one.
            low_ok = scale >= 0 if tensor.is_constant else scale >= MIN_SCALE
            if not (math.isfinite(scale) and low_ok and scale <= MAX_SCALE):
                self.fail_tensor(
                    tensor,
                    f"has quantization {where}, not a finite positive number in "
                    f"[{MIN_SCALE:g}, {MAX_SCALE:g}]",
                    "the quantization parameters are corrupt; reconvert the model",
                )
        low, high = INTEGER_RANGES.get(tensor.dtype, INTEGER_RANGES["int64"])
        for zero_point in quant.zero_points:
            if not low <= zero_point <= high:
                self.fail_tensor(
                    tensor,
                    f"has zero point {zero_point}, outside {tensor.dtype}'s range [{low}, {high}]",
                    "the quantization parameters are corrupt; reconvert the model",
                )
        if quant.per_channel:
            rank = len(tensor.shape)
            # Converters copy a filter's axis to its 1-D bias; TFLM reads such biases by index.
            axis = 0 if rank == 1 else quant.axis
            if not 0 <= axis < rank:
                self.fail_tensor(
                    tensor, f"is quantized along axis {quant.axis} of a {rank}-D tensor"
                )
            if len(quant.scales) != tensor.shape[axis]:
                self.fail_tensor(
                    tensor,
                    f"has {len(quant.scales)} scales for {tensor.shape[axis]} channels "
                    f"along axis {axis}",
                )

    def _check_activation_bytes(self, used: set[int]) -> None:
        total = sum(
            element_count(t.shape) * ITEM_BYTES[t.dtype]
            for t in (self.graph.tensors[i] for i in used)
            if not t.is_constant
        )
        if total > self.limits.max_activation_bytes:
            self.fail(
                "the model",
                f"has {total:,} bytes of activations, more than the "
                f"{self.limits.max_activation_bytes:,}-byte cap",
                f"no microcontroller holds them (raise the cap with {LIMIT_ENVIRONMENT})",
            )

    def _check_dataflow(self) -> None:
        """Every tensor read is a constant, the model input or an earlier op's output, and
        every activation is written once."""
        graph = self.graph
        model_input = graph.tensors[graph.inputs[0]]
        if model_input.is_constant:
            self.fail_tensor(model_input, "is the model's input but holds constant data")
        available = {model_input.index}
        for op in graph.operators:
            if op.opcode in _RULES and (len(op.outputs) != 1 or op.outputs[0] < 0):
                self.fail_op(op, f"has {len(op.outputs)} outputs", "the op has one")
            for slot, index in enumerate(op.inputs):
                if index < 0 or graph.tensors[index].is_constant or index in available:
                    continue
                tensor = graph.tensors[index]
                self.fail_op(
                    op,
                    f"reads tensor {index} ({tensor.name[:80]}) as input {slot} before any op "
                    "produces it",
                    "the model's operators are out of order or the file is corrupt",
                )
            for output in (graph.tensors[i] for i in op.outputs if i >= 0):
                if output.is_constant or output.index in available:
                    self.fail_op(
                        op,
                        f"writes tensor {output.index} ({output.name[:80]}), which is "
                        + ("a constant" if output.is_constant else "already written"),
                    )
                available.add(output.index)
        model_output = graph.tensors[graph.outputs[0]]
        if model_output.index not in available - {model_input.index}:
            self.fail_tensor(model_output, "is the model's output but no op produces it")


@dataclass(frozen=True)
class _Rule:
    """What one op type reads: inputs (min, max), the slots that must be present, its
    options' type, the function that checks it and returns its output shape, and the slots
    that must be activations."""

    inputs: tuple[int, int]
    required: tuple[int, ...]
    options: type | None
    shape: object  # (op checker) -> tuple[int, ...]
    activations: tuple[int, ...] = (0,)  # the slots that must not be constants


class _OpChecker:
    def __init__(self, checker: _Checker, op: ir.Operator):
        self.checker = checker
        self.graph = checker.graph
        self.op = op

    def fail(self, problem: str, hint: str = "the model file is corrupt") -> None:
        self.checker.fail_op(self.op, problem, hint)

    def input(self, slot: int) -> ir.Tensor | None:
        if slot >= len(self.op.inputs) or self.op.inputs[slot] < 0:
            return None
        return self.graph.tensors[self.op.inputs[slot]]

    def ranked(self, slot: int, *ranks: int, what: str = "input") -> ir.Tensor:
        tensor = self.input(slot)
        if len(tensor.shape) not in ranks:
            self.fail(
                f"has a {len(tensor.shape)}-D {what} {_shape(tensor.shape)} (needs "
                + " or ".join(f"{r}-D" for r in ranks)
                + ")",
                "the model file is inconsistent",
            )
        if 0 in tensor.shape:
            self.fail(f"has an empty {what} {_shape(tensor.shape)}")
        return tensor

    def scale(self, tensor: ir.Tensor) -> float | None:
        return tensor.quantization.scale if tensor.quantization else None

    def check(self, rule: _Rule) -> None:
        op = self.op
        low, high = rule.inputs
        if not low <= len(op.inputs) <= high:
            expected = f"{low}" if low == high else f"{low} to {high}"
            self.fail(f"has {len(op.inputs)} inputs ({expected} expected)")
        for slot in rule.required:
            if op.inputs[slot] < 0:
                self.fail(f"has no input {slot}")
        for slot in rule.activations:
            tensor = self.input(slot)
            if tensor.is_constant:
                self.fail(
                    f"has a constant input {slot} ({tensor.name[:80]})",
                    "fold constant computations before converting",
                )
        if rule.options is not None and not isinstance(op.options, rule.options):
            self.fail("has no options of its type")
        output = self.graph.tensors[op.outputs[0]]
        expected = rule.shape(self)
        if tuple(output.shape) != tuple(expected):
            self.fail(
                f"declares output {_shape(output.shape)} where its inputs give {_shape(expected)}",
                "the model file is inconsistent",
            )

    def multiplier(self, real: float, what: str) -> None:
        """A requantization scale the kernels (and TFLM's) can apply."""
        if real != 0.0 and math.frexp(real)[1] > MAX_MULTIPLIER_SHIFT:
            self.fail(
                f"has a {what} rescaling factor of {real:g} (input scale x filter scale / "
                "output scale), too large for 32-bit requantization",
                "the quantization parameters are corrupt; reconvert the model",
            )

    # Shape rules, one per op family; each returns the output shape.

    def conv(self, depthwise: bool) -> tuple[int, ...]:
        options = self.op.options
        x = self.ranked(0, 4)
        filt = self.ranked(1, 4, what="filter")
        _, in_h, in_w, in_c = x.shape
        if depthwise:
            _, k_h, k_w, out_c = filt.shape
            if filt.shape[0] != 1 or out_c % in_c:
                self.fail(
                    f"has filter {_shape(filt.shape)} for {in_c} input channels",
                    "the model file is inconsistent",
                )
            multiplier = options.depth_multiplier
            if multiplier and out_c != in_c * multiplier:
                self.fail(
                    f"has depth multiplier {multiplier} but filter {_shape(filt.shape)}",
                    "the model file is inconsistent",
                )
        else:
            out_c, k_h, k_w, filter_in = filt.shape
            if in_c % filter_in:
                self.fail(
                    f"has filter depth {filter_in} for {in_c} input channels",
                    "the model file is inconsistent",
                )
        self.bias(2, out_c)
        self.window(options, x, (k_h, k_w), (options.dilation_h, options.dilation_w))
        self.weighted_multipliers(x, filt)
        out_h = out_size(options.padding, in_h, k_h, options.stride_h, options.dilation_h)
        out_w = out_size(options.padding, in_w, k_w, options.stride_w, options.dilation_w)
        return (x.shape[0], out_h, out_w, out_c)

    def window(self, options, x: ir.Tensor, kernel: tuple[int, int], dilation) -> None:
        if options.padding not in ("SAME", "VALID"):
            self.fail(f"has padding {options.padding}", "use SAME or VALID padding")
        values = (options.stride_h, options.stride_w, *kernel, *dilation)
        if min(values) < 1:
            self.fail("has a stride, filter size or dilation below 1")
        out_h = out_size(options.padding, x.shape[1], kernel[0], options.stride_h, dilation[0])
        out_w = out_size(options.padding, x.shape[2], kernel[1], options.stride_w, dilation[1])
        if out_h < 1 or out_w < 1:
            self.fail(
                f"has a {kernel[0]}x{kernel[1]} window (dilation {dilation[0]}x{dilation[1]}) "
                f"larger than its {x.shape[1]}x{x.shape[2]} input with VALID padding",
                "the model file is inconsistent",
            )

    def bias(self, slot: int, channels: int) -> None:
        bias = self.input(slot)
        if bias is not None and element_count(bias.shape) != channels:
            self.fail(
                f"has {element_count(bias.shape)} biases for {channels} output channels",
                "the model file is inconsistent",
            )

    def weighted_multipliers(self, x: ir.Tensor, filt: ir.Tensor) -> None:
        output = self.graph.tensors[self.op.outputs[0]]
        scales = (self.scale(x), self.scale(output))
        if None in scales or filt.quantization is None:
            return  # a float model: lowering says so
        for filter_scale in filt.quantization.scales:
            self.multiplier(scales[0] * filter_scale / scales[1], "requantization")

    def pool(self) -> tuple[int, ...]:
        options = self.op.options
        x = self.ranked(0, 4)
        self.window(options, x, (options.filter_h, options.filter_w), (1, 1))
        out_h = out_size(options.padding, x.shape[1], options.filter_h, options.stride_h, 1)
        out_w = out_size(options.padding, x.shape[2], options.filter_w, options.stride_w, 1)
        return (x.shape[0], out_h, out_w, x.shape[3])

    def mean(self) -> tuple[int, ...]:
        x = self.input(0)
        axes = self.input(1)
        if not axes.is_constant or axes.dtype not in ("int32", "int64"):
            self.fail("has axes that are not a constant integer tensor", "fold them in the model")
        rank = len(x.shape)
        values = [int(a) for a in axes.data.reshape(-1)]
        if any(not -rank <= a < rank for a in values):
            self.fail(f"reduces axes {values} of a {rank}-D input")
        reduced = {a % rank for a in values}
        if self.op.options.keep_dims:
            return tuple(1 if i in reduced else d for i, d in enumerate(x.shape))
        return tuple(d for i, d in enumerate(x.shape) if i not in reduced)

    def fully_connected(self) -> tuple[int, ...]:
        x = self.input(0)
        filt = self.ranked(1, 2, what="filter")
        out_c, depth = filt.shape
        count = element_count(x.shape)
        if not x.shape or count % depth:
            self.fail(
                f"has input {_shape(x.shape)} that filter {_shape(filt.shape)} cannot divide "
                f"into rows of {depth}",
                "the model file is inconsistent",
            )
        self.bias(2, out_c)
        self.weighted_multipliers(x, filt)
        if self.op.options.keep_num_dims:
            if x.shape[-1] != depth:
                self.fail(f"keeps the dimensions of {_shape(x.shape)}; its filter is {depth} deep")
            return (*x.shape[:-1], out_c)
        return (count // depth, out_c)

    def softmax(self) -> tuple[int, ...]:
        x = self.input(0)
        if not x.shape:
            self.fail("has a scalar input", "softmax needs at least one dimension")
        beta = self.op.options.beta
        if not (math.isfinite(beta) and beta > 0):
            self.fail(f"has beta {beta!r}", "beta must be a finite positive number (usually 1)")
        scale = self.scale(x)
        if scale is not None and x.dtype == "int8":
            # PreprocessSoftmaxScaling then QuantizeMultiplierGreaterThanOne, which aborts
            # TFLM (TFLITE_CHECK) unless the capped real multiplier exceeds one.
            real = min(beta * scale * (1 << 26), (1 << 31) - 1.0)
            if not real > 1.0:
                self.fail(
                    f"has input scale {scale:g}, too small for TFLM's int8 softmax (TFLM itself "
                    "aborts on this model)",
                    "train the model further before quantizing, so its logits span a range",
                )
        return x.shape

    def same_shape(self) -> tuple[int, ...]:
        return self.input(0).shape

    def reshape(self) -> tuple[int, ...]:
        x = self.input(0)
        output = self.graph.tensors[self.op.outputs[0]]
        if element_count(output.shape) != element_count(x.shape):
            self.fail(
                f"declares output {_shape(output.shape)} for input {_shape(x.shape)}, a "
                "different number of values",
                "the model file is inconsistent",
            )
        return output.shape

    def pad(self) -> tuple[int, ...]:
        x = self.input(0)
        paddings = self.input(1)
        rank = len(x.shape)
        if (
            not paddings.is_constant
            or paddings.dtype not in ("int32", "int64")
            or paddings.shape != (rank, 2)
        ):
            self.fail(
                f"has paddings {paddings.dtype}{_shape(paddings.shape)}; a constant integer "
                f"[{rank}, 2] tensor is required",
                "only constant paddings are supported",
            )
        amounts = paddings.data.reshape(rank, 2).tolist()
        if any(a < 0 for row in amounts for a in row):
            self.fail(f"pads by a negative amount {amounts}", "the model file is inconsistent")
        return tuple(int(d) + int(a) + int(b) for d, (a, b) in zip(x.shape, amounts, strict=True))

    def add(self) -> tuple[int, ...]:
        a, b = self.input(0), self.input(1)
        output = self.graph.tensors[self.op.outputs[0]]
        shape = _broadcast(a.shape, b.shape)
        if shape is None:
            self.fail(
                f"adds {_shape(a.shape)} and {_shape(b.shape)}, which do not broadcast",
                "the model file is inconsistent",
            )
        scales = (self.scale(a), self.scale(b), self.scale(output))
        if None not in scales and output.dtype == "int8":
            # CalculateOpDataAdd: QuantizeMultiplierSmallerThanOneExp aborts TFLM unless the
            # output rescaling is below one.
            twice_max = 2 * max(scales[0], scales[1])
            if not twice_max / ((1 << 20) * scales[2]) < 1.0:
                self.fail(
                    f"has output scale {scales[2]:g}, too small for its input scales "
                    f"{scales[0]:g} and {scales[1]:g} (TFLM refuses it)",
                    "the quantization parameters are corrupt; reconvert the model",
                )
        return shape

    def quantize(self) -> tuple[int, ...]:
        x = self.input(0)
        output = self.graph.tensors[self.op.outputs[0]]
        if x.dtype != "float32" and None not in (self.scale(x), self.scale(output)):
            self.multiplier(self.scale(x) / self.scale(output), "requantization")
        return x.shape


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    shape = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        shape.append(max(x, y))
    return tuple(reversed(shape))


def _shape(shape: tuple[int, ...]) -> str:
    text = "x".join(map(str, shape)) if shape else "scalar"
    return text if len(text) <= 60 else text[:57] + "..."


_RULES = {
    "CONV_2D": _Rule((2, 3), (0, 1), ir.Conv2DOptions, lambda c: c.conv(depthwise=False)),
    "DEPTHWISE_CONV_2D": _Rule(
        (2, 3), (0, 1), ir.DepthwiseConv2DOptions, lambda c: c.conv(depthwise=True)
    ),
    "AVERAGE_POOL_2D": _Rule((1, 1), (0,), ir.Pool2DOptions, _OpChecker.pool),
    "MEAN": _Rule((2, 2), (0, 1), ir.ReducerOptions, _OpChecker.mean),
    "FULLY_CONNECTED": _Rule((2, 3), (0, 1), ir.FullyConnectedOptions, _OpChecker.fully_connected),
    "SOFTMAX": _Rule((1, 1), (0,), ir.SoftmaxOptions, _OpChecker.softmax),
    "RESHAPE": _Rule((1, 2), (0,), None, _OpChecker.reshape),
    "SQUEEZE": _Rule((1, 1), (0,), None, _OpChecker.reshape),
    "PAD": _Rule((2, 2), (0, 1), None, _OpChecker.pad),
    "ADD": _Rule((2, 2), (0, 1), ir.AddOptions, _OpChecker.add, activations=(0, 1)),
    "QUANTIZE": _Rule((1, 1), (0,), None, _OpChecker.quantize),
    "DEQUANTIZE": _Rule((1, 1), (0,), None, _OpChecker.same_shape),
}
