# SPDX-License-Identifier: Apache-2.0
"""The static memory plan: every activation tensor gets a fixed offset in one arena.

The algorithm, in plain steps:

1. Buffers. Every activation tensor is a buffer, except that a RESHAPE/SQUEEZE output shares
   its input's buffer (same bytes). The model's input and output live in the arena too.
2. Lifetimes. A buffer is live from the layer that writes it to the last layer that reads it;
   the model input from before the first layer, the model output until after the last.
3. Conflicts. Two buffers whose lifetimes overlap must not overlap in memory, with one
   exception: a layer's output may overlap an input that dies at that layer when the kernel's
   access order makes it safe (`kernel_call.Stream`): the kernel writes its output in increasing
   address order and never writes over input bytes it has still to read. For an output placed
   D bytes after its input, that holds for every D <= Stream.max_offset() (and, trivially, for
   outputs that do not overlap at all). A depthwise output thus sits about one input row below
   its own input, and a larger 1x1 pointwise output sits below its input with only its tail
   overlapping it.
4. Placement, two ways; the smaller arena wins.
   - Greedy: buffers are placed in some order (largest first, and others), each at the lowest
     aligned offset that no conflicting, already placed buffer forbids.
   - Chain: when only consecutive buffers are ever live together (a plain MobileNet), the
     smallest arena is found exactly: for an arena size W, the offsets where buffer i+1 can go
     given where buffer i can go form at most two intervals ([0, a] reached by overlapping
     below the input, [b, W - size] by going above it), so feasibility of W is one pass
     forward; W is found by bisection and the offsets by one pass backward.

Guarantees and limits: for a chain the arena never exceeds the liveness bound (the largest sum
of bytes alive at once around one layer, each buffer rounded up to ALIGNMENT, without
overlaps): putting buffers alternately at the bottom and the top of an arena of that size is
always one of the solutions searched. For other graphs (branches joined by ADD) the greedy
placement is not guaranteed to reach the bound; the report always prints it beside the arena.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.kernel_call import Layer

ALIGNMENT = 16


@dataclass
class Buffer:
    tensors: list[ir.Tensor]  # first is the producer's tensor; the rest are aliases
    size: int
    first_use: int  # layer position that writes it (-1: the model input)
    last_use: int  # last layer position that reads it (len(layers): the model output)
    offset: int = -1

    @property
    def name(self) -> str:
        return self.tensors[0].name

    def live_together(self, other: Buffer) -> bool:
        return self.first_use <= other.last_use and other.first_use <= self.last_use


@dataclass
class Plan:
    buffers: list[Buffer]
    arena_bytes: int
    liveness_bound: int
    offsets: dict[int, int]  # tensor index -> arena offset

    def offset(self, tensor: ir.Tensor) -> int:
        return self.offsets[tensor.index]

    def rows(self) -> list[dict]:
        return [
            dict(
                tensor=b.name,
                offset=b.offset,
                size=b.size,
                first_use=b.first_use,
                last_use=b.last_use,
            )
            for b in sorted(self.buffers, key=lambda b: (b.first_use, b.offset))
        ]


@dataclass(frozen=True)
class _Overlap:
    """Output `output` may start at most `max_offset` bytes after input `input` starts."""

    input: int
    output: int
    max_offset: int


def plan_memory(graph: ir.Graph, layers: list[Layer], allow_overlap: bool = True) -> Plan:
    buffers, owner = _buffers(graph, layers)
    overlaps = _overlaps(layers, buffers, owner) if allow_overlap else []
    bound = _liveness_bound(buffers, len(layers))
    candidates = [_place(buffers, order, overlaps) for order in _orders(buffers)]
    chain = _chain(buffers)
    if chain is not None:
        candidates.append(_place_chain(buffers, chain, overlaps))
    offsets = min(candidates, key=lambda offsets: _arena_size(buffers, offsets))
    arena = _arena_size(buffers, offsets)
    for buffer, offset in zip(buffers, offsets, strict=True):
        buffer.offset = offset
    _verify(buffers, overlaps)
    tensor_offsets = {t.index: b.offset for b in buffers for t in b.tensors}
    return Plan(buffers, _align(arena), bound, tensor_offsets)


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _align_down(value: int) -> int:
    return value // ALIGNMENT * ALIGNMENT


def _buffers(graph: ir.Graph, layers: list[Layer]) -> tuple[list[Buffer], dict[int, int]]:
    owner: dict[int, int] = {}  # tensor index -> buffer index
    buffers: list[Buffer] = []
    model_input = graph.tensors[graph.inputs[0]]
    owner[model_input.index] = 0
    buffers.append(Buffer([model_input], model_input.nbytes, -1, -1))
    for position, layer in enumerate(layers):
        for tensor in layer.inputs:
            buffers[owner[tensor.index]].last_use = position
        if layer.alias:
            source = owner[layer.inputs[0].index]
            owner[layer.output.index] = source
            buffers[source].tensors.append(layer.output)
        else:
            owner[layer.output.index] = len(buffers)
            buffers.append(Buffer([layer.output], layer.output.nbytes, position, position))
    buffers[owner[graph.outputs[0]]].last_use = len(layers)
    return buffers, owner


def _overlaps(layers: list[Layer], buffers: list[Buffer], owner: dict[int, int]) -> list[_Overlap]:
    overlaps = []
    for position, layer in enumerate(layers):
        if layer.alias:
            continue
        out = owner[layer.output.index]
        for stream in layer.streams:
            source = owner[layer.inputs[stream.input_slot].index]
            if buffers[source].last_use != position:  # still read later: keep it intact
                continue
            overlaps.append(_Overlap(source, out, _align_down(stream.max_offset())))
    return overlaps


def _liveness_bound(buffers: list[Buffer], layer_count: int) -> int:
    bound = 0
    for position in range(-1, layer_count + 1):
        alive = sum(_align(b.size) for b in buffers if b.first_use <= position <= b.last_use)
        bound = max(bound, alive)
    return bound


def _orders(buffers: list[Buffer]) -> list[list[int]]:
    indices = range(len(buffers))
    return [
        sorted(indices, key=lambda i: (-buffers[i].size, buffers[i].first_use)),
        sorted(indices, key=lambda i: (buffers[i].first_use, -buffers[i].size)),
        sorted(
            indices, key=lambda i: (-(buffers[i].last_use - buffers[i].first_use), -buffers[i].size)
        ),
    ]


def _forbidden(
    placed: int, new: int, buffers: list[Buffer], pairs: dict[tuple[int, int], int]
) -> tuple[int, int]:
    """The open interval of offsets for `new` that collide with placed buffer `placed`."""
    start, size = buffers[placed].offset, buffers[new].size
    end = start + buffers[placed].size
    if (placed, new) in pairs:  # new is an output that may overlap placed (its input)
        return start + pairs[(placed, new)], end
    if (new, placed) in pairs:  # new is an input that placed (its output) may overlap
        return start - size, start - pairs[(new, placed)]
    return start - size, end


def _place(buffers: list[Buffer], order: list[int], overlaps: list[_Overlap]) -> list[int]:
    pairs = {(o.input, o.output): o.max_offset for o in overlaps}
    for buffer in buffers:
        buffer.offset = -1
    placed: list[int] = []
    for new in order:
        if buffers[new].size == 0:
            buffers[new].offset = 0
            continue
        intervals = [
            _forbidden(p, new, buffers, pairs)
            for p in placed
            if buffers[p].live_together(buffers[new]) and buffers[p].size
        ]
        candidates = sorted({0, *(_align(high) for _, high in intervals)})
        buffers[new].offset = next(
            c for c in candidates if c >= 0 and all(not (low < c < high) for low, high in intervals)
        )
        placed.append(new)
    return [b.offset for b in buffers]


def _arena_size(buffers: list[Buffer], offsets: list[int]) -> int:
    return max((offset + b.size for offset, b in zip(offsets, buffers, strict=True)), default=0)


def _chain(buffers: list[Buffer]) -> list[int] | None:
    """Buffer indices in execution order if only consecutive ones are ever live together."""
    order = sorted(range(len(buffers)), key=lambda i: buffers[i].first_use)
    for a, i in enumerate(order):
        for b in range(a + 2, len(order)):
            if buffers[i].live_together(buffers[order[b]]):
                return None
    return order


def _place_chain(buffers: list[Buffer], chain: list[int], overlaps: list[_Overlap]) -> list[int]:
    """The smallest arena for a chain, in units of ALIGNMENT (see the module docstring)."""
    pairs = {(o.input, o.output): o.max_offset for o in overlaps}
    units = [(buffers[i].size + ALIGNMENT - 1) // ALIGNMENT for i in chain]
    # The furthest (in units) an output may start above its input and still overlap it safely;
    # without an allowed overlap it must end below the input: -size.
    reach = [
        pairs.get((chain[k], chain[k + 1]), -buffers[chain[k + 1]].size) // ALIGNMENT
        for k in range(len(chain) - 1)
    ]

    def reachable(width: int) -> list[list[tuple[int, int]]] | None:
        sets = [[(0, width - units[0])]]
        for k in range(len(chain) - 1):
            top = width - units[k + 1]
            lowest = min(low for low, _ in sets[k])
            highest = max(high for _, high in sets[k])
            intervals = [(0, min(highest + reach[k], top)), (lowest + units[k], top)]
            intervals = [(low, high) for low, high in intervals if low <= high and top >= 0]
            if not intervals:
                return None
            sets.append(intervals)
        return sets

    low, high = max(units), sum(units)
    while low < high:
        middle = (low + high) // 2
        if reachable(middle) is None:
            low = middle + 1
        else:
            high = middle
    sets = reachable(low)
    offsets = [0] * len(buffers)
    position = sets[-1][0][0]
    offsets[chain[-1]] = position * ALIGNMENT
    for k in range(len(chain) - 2, -1, -1):
        # Any position of buffer k, in its reachable set, from which `position` can be reached.
        for set_low, set_high in sets[k]:
            overlap_from = max(set_low, position - reach[k])
            below_to = min(set_high, position - units[k])
            if overlap_from <= set_high:
                position = overlap_from
                break
            if set_low <= below_to:
                position = below_to
                break
        offsets[chain[k]] = position * ALIGNMENT
    return offsets


def _verify(buffers: list[Buffer], overlaps: list[_Overlap]) -> None:
    """Checks the plan independently of how it was made: no live pair collides unsafely."""
    pairs = {(o.input, o.output): o.max_offset for o in overlaps}
    for i, a in enumerate(buffers):
        for j, b in enumerate(buffers):
            if j <= i or not a.size or not b.size or not a.live_together(b):
                continue
            disjoint = a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
            safe = (
                disjoint
                or ((i, j) in pairs and b.offset - a.offset <= pairs[(i, j)])
                or ((j, i) in pairs and a.offset - b.offset <= pairs[(j, i)])
            )
            if not safe:
                raise AssertionError(f"memory plan collision: {a.name} and {b.name}")
