/* SPDX-License-Identifier: Apache-2.0 */
/* Native int8 kernels of mcu-mobilenet: the layouts and constants the compiler prepares for
 * them, and their API.
 *
 * The compiler knows every weight and quantization constant, so it does ahead of time what a
 * run-time library does at every call: it folds the input offset into the biases, lays the
 * weights out in the order the inner loops load them, and turns each output channel's
 * requantization into three constants that need four instructions per output on a DSP core
 * (mm_native_requantize). The kernels are written with the DSP instructions of
 * mm_native_simd.h, which are plain C on cores without them.
 *
 * Doubled accumulators. Every kernel accumulates 2 x sum(filter * input) + bias, with bias the
 * doubled folded bias: 2 x (bias - input_zero_point x sum(filter)). Doubling costs nothing
 * (the doubled values are made where the operands are widened to int16 anyway) and lets one
 * SMMLAR compute TFLM's doubling high multiply. The compiler only chooses a native kernel when
 * it has proved that no doubled accumulator can leave int32.
 *
 * Requantization. TFLM computes, per output channel with multiplier m and shift -e (e >= 1):
 *     t = (acc * m + 2^30) >> 31                  (SaturatingRoundingDoublingHighMul)
 *     y = clamp(RoundingDivideByPOT(t, e) + zero_point, act_min, act_max)
 * RoundingDivideByPOT rounds ties away from zero: (t + 2^(e-1) - (t < 0)) >> e. With
 * rounding = 2^(e-1) + zero_point x 2^e that is (t + rounding - (t < 0)) >> e, and with the
 * doubled accumulator SMMLAR(2 acc, m, rounding) = t + rounding. Two output modes:
 *   - MM_NATIVE_OUTPUT_SATURATE, when act_min = zero_point = -128 and act_max = 127 (every
 *     ReLU/ReLU6 layer of a MobileNet): the (t < 0) term is dropped, because for t < 0 both
 *     roundings give a value at or below the zero point, which the activation clamps to
 *     act_min anyway; the clamp is one SSAT.
 *   - MM_NATIVE_OUTPUT_CLAMP otherwise: (t < 0) is taken from the accumulator's sign (equal
 *     for every multiplier above 2^30, which the compiler checks), then clamped.
 */
#ifndef MM_NATIVE_H
#define MM_NATIVE_H

#include <stdint.h>

#include "mm_native_simd.h"

/* One output channel's constants, in the order the kernels load them. */
typedef struct {
    int32_t bias;       /* doubled folded bias */
    int32_t multiplier; /* Q31, in [2^30, 2^31) */
    int32_t rounding;   /* 2^(shift - 1) + output_zero_point * 2^shift */
    int32_t shift;      /* right shift, in [1, 24] */
} mm_native_channel;

typedef enum { MM_NATIVE_OUTPUT_SATURATE = 0,
               MM_NATIVE_OUTPUT_CLAMP = 1 } mm_native_output_mode;

typedef struct {
    int32_t act_min; /* fused activation clamp, -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
    mm_native_output_mode mode;
} mm_native_output;

static inline int8_t mm_native_requantize(int32_t doubled_acc, const mm_native_channel *channel,
                                          const mm_native_output *output)
{
    int32_t value = mm_smmlar(doubled_acc, channel->multiplier, channel->rounding);
    if (output->mode == MM_NATIVE_OUTPUT_SATURATE) {
        return (int8_t)mm_ssat8(value >> channel->shift);
    }
    value = (value + (doubled_acc >> 31)) >> channel->shift;
    value = value < output->act_min ? output->act_min : value;
    return (int8_t)(value > output->act_max ? output->act_max : value);
}

/* ---- Matrix products: 1x1 convolution, fully connected, and convolution through patches ----
 *
 * Each output pixel is the dot product of one "row" (a pixel's channels, or the patch of
 * taps under a convolution window, in [KH][KW][C_IN] order) with each output channel's filter
 * row. Rows are zero-padded to `groups` x 4 values. The filter is laid out in pairs of output
 * channels: for channels 2q and 2q + 1, for each group g, the word of channel 2q's values
 * 4g..4g+3 then channel 2q+1's; an odd last channel has one word per group. The kernels widen
 * two rows at a time into the scratch buffer (doubled int16 pairs in the order SXTB16 splits
 * a word: values 0, 2 then 1, 3), then every filter word is widened once and used for both.
 */
typedef struct {
    int32_t groups;       /* ceil(row length / 4) */
    int32_t out_channels; /* filter rows */
    mm_native_output output;
} mm_native_gemm_params;

/* Scratch bytes the matrix kernels need for rows of `groups` groups. */
#define MM_NATIVE_GEMM_SCRATCH_BYTES(groups) (16 * (groups))

/* out_a[c] and out_b[c] for every output channel c, from two widened rows. */
void mm_native_gemm_pair_s8(const mm_native_gemm_params *params,
                            const mm_native_channel *channels, const int32_t *rows,
                            const int32_t *filter, int8_t *out_a, int8_t *out_b);

/* 1x1 convolution with stride 1 and no padding (pointwise), and FULLY_CONNECTED.
 * input  [pixels, in_channels] int8;  output [pixels, out_channels] int8.
 * Reads the input two pixels at a time and writes their outputs after, in increasing address
 * order, so the output may overlap its input (see compiler/planner.py). */
void mm_native_pointwise_s8(const mm_native_gemm_params *params,
                            const mm_native_channel *channels, int32_t pixels,
                            int32_t in_channels, const int8_t *input, const int32_t *filter,
                            int32_t *scratch, int8_t *output);

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t out_h, out_w;
    int32_t input_zero_point; /* the value of taps outside the image */
} mm_native_window;

/* Any 2-D convolution: input [1, in_h, in_w, in_c] -> output [1, out_h, out_w, out_channels].
 * Gathers the windows of two output pixels, then writes both, in raster order. */
#define MM_NATIVE_CONV_SCRATCH_BYTES(groups) (24 * (groups))

void mm_native_conv_s8(const mm_native_gemm_params *params, const mm_native_channel *channels,
                       const mm_native_window *window, const int8_t *input,
                       const int32_t *filter, int32_t *scratch, int8_t *output);

/* ---- Depthwise 3x3 convolution (any stride, padding and channel multiplier, no dilation) ----
 *
 * Each output channel c has five filter words in `taps[5c .. 5c + 4]`: three pairs
 * (2 w[0][k], 2 w[1][k]) for k = 0, 1, 2, then (2 w[2][0], 2 w[2][1]) and (2 w[2][2], 0).
 * With a channel multiplier of 1 the kernel slides along each output row one channel at a
 * time, each input column loaded once for the three outputs that use it; with a larger
 * multiplier it loads each window once for all the channels made from it. Either way it
 * writes whole output rows in order, after reading nothing above the first input row they
 * need (the planner's in-place overlap, see compiler/planner.py). */
void mm_native_depthwise_3x3_s8(const mm_native_output *output,
                                const mm_native_channel *channels, const mm_native_window *window,
                                int32_t depth_multiplier, const int8_t *input,
                                const int32_t *taps, int8_t *out);

#endif /* MM_NATIVE_H */
