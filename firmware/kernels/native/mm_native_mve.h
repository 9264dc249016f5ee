/* SPDX-License-Identifier: Apache-2.0 */
/* Native int8 kernels for Cortex-M cores with Helium (MVE): the layouts the compiler prepares
 * for them, their API and their requantization.
 *
 * The compiler emits these layouts only for a board whose CPU has MVE's integer instructions
 * (mcu-mobilenet compile --board), so any other build must stop here rather than run them.
 *
 * Accumulators are plain (not doubled, unlike mm_native.h): acc = bias + sum(filter * input)
 * with bias = bias - input_zero_point * sum(filter), the input offset folded in. The
 * compiler only chooses these kernels when |bias| + 128 * sum|filter| fits int32, so no sum
 * ever wraps.
 *
 * Requantization. TFLM computes, per output channel with multiplier m and shift -e:
 *     t = SaturatingRoundingDoublingHighMul(acc, m)
 *     y = clamp(RoundingDivideByPOT(t, e) + zero_point, act_min, act_max)
 * and four lanes at a time we compute (MM_NATIVE_MVE_REQUANTIZE below)
 *     t = VQRDMULH(acc, m)                            (1)
 *     t = t + (t >> 31)       only in MM_NATIVE_MVE_TIES_AWAY mode   (2)
 *     y = min(max(VRSHL(t, -e) + zero_point, act_min), act_max)      (3)
 * (1) is exact: VQRDMULH gives sat((2 acc m + 2^31) >> 32) = floor((acc m + 2^30) / 2^31),
 *     saturating only acc = m = INT32_MIN. TFLM adds 2^30 to a non-negative product and
 *     1 - 2^30 to a negative one, then divides by 2^31 truncating toward zero; for p < 0,
 *     trunc((p + 1 - 2^30) / 2^31) = floor((p + 1 - 2^30 + 2^31 - 1) / 2^31)
 *     = floor((p + 2^30) / 2^31), so both agree on every product and on the saturated case.
 * (3) VRSHL by -e (e >= 1) rounds half up: floor((t + 2^(e-1)) / 2^e), computed without
 *     overflow. RoundingDivideByPOT rounds half away from zero: with t = q 2^e + r, 0 <= r <
 *     2^e, it returns q + (r > 2^(e-1) - 1 + s), s = (t < 0), which is
 *     q + (r >= 2^(e-1) + s) = floor((t - s + 2^(e-1)) / 2^e). The two differ only for t < 0,
 *     by at most one, and (2) turns t into t - s, making (3) exact: t - 1 cannot wrap,
 *     because |m| < 2^31 keeps t above INT32_MIN.
 *   - MM_NATIVE_MVE_TIES_CLAMPED, when act_min >= zero_point (every ReLU and ReLU6 layer):
 *     (2) is skipped. For t < 0 both roundings give a quotient <= 0 (t + 2^(e-1) < 2^e),
 *     so y <= zero_point <= act_min is clamped to act_min either way. Here e = 0 is allowed
 *     too (VRSHL by 0 and RoundingDivideByPOT by 2^0 both return t).
 *   - MM_NATIVE_MVE_TIES_AWAY otherwise, with e >= 1, which the compiler checks.
 * The zero point is added with wrapping int32 arithmetic, as TFLM does, and clamped after.
 */
#ifndef MM_NATIVE_MVE_H
#define MM_NATIVE_MVE_H

#if !defined(__ARM_FEATURE_MVE) || !(__ARM_FEATURE_MVE & 1)
/* Built for another CPU: build for a Helium core (-mcpu=cortex-m55), or compile the model
 * again for this board (mcu-mobilenet compile --board BOARD). */
#error "model compiled for a Cortex-M with Helium (MVE); see mm_native_mve.h"
#endif

#include <arm_mve.h>
#include <stdint.h>

#include "mm_native.h"

typedef enum { MM_NATIVE_MVE_TIES_CLAMPED = 0,
               MM_NATIVE_MVE_TIES_AWAY = 1 } mm_native_mve_ties;

typedef struct {
    int32_t zero_point; /* output zero point */
    int32_t act_min;    /* fused activation clamp, -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
    mm_native_mve_ties ties;
} mm_native_mve_output;

/* The requantization above, as assembly text for the kernels' inline assembly (so that the
 * output constants stay in registers across a layer): four accumulators in q register `acc`
 * requantized in place, with the multipliers and the negated shifts in q registers
 * `multiplier` and `neg_shift`, and the output zero point in `zero_point` (a general register
 * or a q register holding it in every lane); the asm statement provides the operands
 * %q[act_min] and %q[act_max] (vectors). `fix_ties` is "" in the
 * MM_NATIVE_MVE_TIES_CLAMPED mode, else MM_NATIVE_MVE_FIX_TIES(acc, temp), step (2) with q
 * register `temp` as scratch. */
/* clang-format off */
#define MM_NATIVE_MVE_FIX_TIES(acc, temp)                                                      \
    "vshr.s32 " temp ", " acc ", #31\n\t"                                                       \
    "vadd.i32 " acc ", " acc ", " temp "\n\t"
/* clang-format on */
/* clang-format off */
#define MM_NATIVE_MVE_REQUANTIZE(acc, multiplier, neg_shift, zero_point, fix_ties)             \
    "vqrdmulh.s32 " acc ", " acc ", " multiplier "\n\t" fix_ties                                \
    "vrshl.s32 " acc ", " acc ", " neg_shift "\n\t"                                             \
    "vadd.i32 " acc ", " acc ", " zero_point "\n\t"                                             \
    "vmax.s32 " acc ", " acc ", %q[act_min]\n\t"                                                \
    "vmin.s32 " acc ", " acc ", %q[act_max]\n\t"
/* clang-format on */

/* ---- Matrix products: 1x1 convolution, fully connected, and convolution through patches ----
 *
 * Each output pixel is the dot product of one row (a pixel's channels, or the patch under a
 * convolution window in [KH][KW][C_IN] order) of `depth` bytes with each output channel's
 * filter row. Output channels go in groups of four (the last one padded with zero filters).
 * Per group, `channels` holds 12 words: the four biases, the four multipliers, the four
 * negated shifts (-e). The filter holds, per group and per 16 bytes of the row (the last
 * chunk zero-padded), the four channels' 16 bytes one after the other: the order in which
 * the inner loop (VLDRB, VMLADAVA) reads them for two rows at a time.
 */
typedef struct {
    int32_t depth; /* row length in bytes */
    int32_t out_channels;
    mm_native_mve_output output;
} mm_native_mve_gemm_params;

/* out_a[c] and out_b[c] (out_b may be null: then row_b is not read) for every channel c. */
void mm_native_mve_gemm_pair_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                                const int8_t *row_a, const int8_t *row_b, const int8_t *filter,
                                int8_t *out_a, int8_t *out_b);

/* 1x1 convolution with stride 1 and no padding (pointwise), and FULLY_CONNECTED.
 * input [pixels, depth] int8; output [pixels, out_channels] int8. Computes two pixels at a
 * time and writes their outputs while reading only their rows and the rows after them, so
 * the output may overlap its input as for the portable kernel (see compiler/planner.py). */
void mm_native_mve_pointwise_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                                int32_t pixels, const int8_t *input, const int8_t *filter,
                                int8_t *output);

/* Scratch bytes the convolution needs for rows of `depth` bytes: two gathered patches. */
#define MM_NATIVE_MVE_CONV_SCRATCH_BYTES(depth) (2 * (depth))

/* Any 2-D convolution: input [1, in_h, in_w, in_c] -> output [1, out_h, out_w, out_channels].
 * Gathers the windows of two output pixels, then writes both, in raster order. */
void mm_native_mve_conv_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                           const mm_native_window *window, const int8_t *input,
                           const int8_t *filter, int8_t *scratch, int8_t *output);

/* ---- Depthwise 3x3 convolution (any stride, padding and channel multiplier, no dilation) ----
 *
 * For each output pixel and each group of four output channels, taps 0-7 of each channel's
 * window (row-major) are gathered as int16 lanes (VLDRB gather) and summed against its
 * filter taps with one VMLADAVA; tap 8 of the four channels is one more gather and multiply.
 * Per group, `groups` holds MM_NATIVE_MVE_DEPTHWISE_GROUP_WORDS words: the four biases,
 * multipliers, negated shifts, tap-8 filter values, input channels (output channel c reads
 * input channel c / depth_multiplier) and input channels plus tap 8's offset in the window
 * (2 in_w in_c + 2 in_c, the gather offsets of tap 8), then each channel's taps 0-7 as int8
 * (the last group padded with channels that read the last input channel through zero
 * filters and are not stored). Taps outside the image read the input zero point. Output
 * pixels are written in raster order, each after reading nothing above the first input row
 * its window needs (the planner's in-place overlap, see compiler/planner.py).
 */
#define MM_NATIVE_MVE_DEPTHWISE_GROUP_WORDS 32

void mm_native_mve_depthwise_3x3_s8(const mm_native_mve_output *output, const int32_t *groups,
                                    const mm_native_window *window, int32_t out_channels,
                                    const int8_t *input, int8_t *out);

#endif /* MM_NATIVE_MVE_H */
