# SPDX-License-Identifier: Apache-2.0
"""Row bands: running the first layers of a network band by band (patch-based inference).

A layer-by-layer plan must hold a whole tensor at once, so the large early tensors of a
MobileNet set its peak RAM. Patch-based inference (MCUNetV2, Lin et al. 2021) runs a prefix
of the network on one part of its last output at a time. Here the parts are bands of whole
rows: band b of the prefix's last output (the "cut") needs a range of rows of each earlier
layer's output, which is computed from the model input for that band only, in a small tile.

Why whole rows: a band of full-width rows is a dense tensor of its own ([1, rows, W, C] in
place, with the image's row stride), so every backend's kernels run on it unchanged, given a
smaller height, a top padding that is the layer's own at the image's top edge and 0 inside
it (the band's first rows are the halo), and the input pointer moved to the band's first
row; taps beyond a band's last row are the image's bottom padding, because each tile holds
every row the next layer's windows read. Bands need only vertical halos; columns are never
recomputed.

Cost: consecutive bands recompute the rows their halos share. `BandPlan.macs` counts every
computed row, so `extra_macs` is exactly the recomputation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowWindow:
    """How one layer maps input rows to output rows (its vertical geometry)."""

    in_h: int
    out_h: int
    kernel_h: int = 1
    stride_h: int = 1
    pad_top: int = 0
    dilation_h: int = 1
    macs_per_out_row: int = 0
    in_row_bytes: int = 0
    out_row_bytes: int = 0

    def input_rows(self, first: int, end: int) -> tuple[int, int]:
        """The input rows [a, b) the output rows [first, end) read (within the image)."""
        top = first * self.stride_h - self.pad_top
        bottom = (end - 1) * self.stride_h - self.pad_top + (self.kernel_h - 1) * self.dilation_h
        return max(0, top), min(self.in_h, bottom + 1)

    def band_pad_top(self, first: int, input_first: int) -> int:
        """The top padding of a band whose outputs start at row `first` and whose input tile
        starts at row `input_first`: the layer's own at the image's top, 0 inside it."""
        return input_first - (first * self.stride_h - self.pad_top)


@dataclass(frozen=True)
class BandLayer:
    """One layer's part in one band: its output rows and its input tile."""

    out_first: int
    out_end: int
    in_first: int
    in_end: int
    pad_top: int

    @property
    def out_rows(self) -> int:
        return self.out_end - self.out_first

    @property
    def in_rows(self) -> int:
        return self.in_end - self.in_first


@dataclass(frozen=True)
class BandPlan:
    """A prefix of `len(windows)` layers run in `len(bands)` bands of the cut's output rows."""

    windows: tuple[RowWindow, ...]
    bands: tuple[tuple[BandLayer, ...], ...]  # bands[b][layer]

    @property
    def band_count(self) -> int:
        return len(self.bands)

    def tile_rows(self, layer: int) -> int:
        """The most output rows `layer` computes in any band (its tile's height)."""
        return max(band[layer].out_rows for band in self.bands)

    def tile_bytes(self, layer: int) -> int:
        return self.tile_rows(layer) * self.windows[layer].out_row_bytes

    @property
    def macs(self) -> int:
        return sum(
            band[k].out_rows * window.macs_per_out_row
            for band in self.bands
            for k, window in enumerate(self.windows)
        )

    @property
    def layer_by_layer_macs(self) -> int:
        return sum(window.out_h * window.macs_per_out_row for window in self.windows)

    @property
    def extra_macs(self) -> int:
        return self.macs - self.layer_by_layer_macs

    def first_input_row(self, cut_row: int) -> int:
        """The first model-input row read by the band that writes cut row `cut_row`."""
        band = next(b for b in self.bands if b[-1].out_first <= cut_row < b[-1].out_end)
        return band[0].in_first


def plan_bands(windows: list[RowWindow], band_count: int) -> BandPlan:
    """Splits the last window's output rows into `band_count` bands (as even as possible,
    earlier bands one row taller) and works out every layer's rows in each band."""
    cut_rows = windows[-1].out_h
    if not 1 <= band_count <= cut_rows:
        raise ValueError(f"{band_count} bands of {cut_rows} rows")
    bands = []
    first = 0
    for b in range(band_count):
        end = first + cut_rows // band_count + (1 if b < cut_rows % band_count else 0)
        layers: list[BandLayer] = []
        out_first, out_end = first, end
        for window in reversed(windows):
            in_first, in_end = window.input_rows(out_first, out_end)
            pad = window.band_pad_top(out_first, in_first)
            layers.append(BandLayer(out_first, out_end, in_first, in_end, pad))
            out_first, out_end = in_first, in_end
        bands.append(tuple(reversed(layers)))
        first = end
    return BandPlan(tuple(windows), tuple(bands))
