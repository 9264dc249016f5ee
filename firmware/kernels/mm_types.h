/* SPDX-License-Identifier: Apache-2.0 */
/* Types shared by the portable int8 kernels of mcu-mobilenet.
 *
 * Tensors are dense, row-major NHWC (batch, height, width, channels) int8 arrays; a
 * quantized value q stands for scale * (q - zero_point). Every parameter is computed on the
 * host by the compiler and passed in small const structs; kernels keep no state and never
 * allocate memory.
 */
#ifndef MM_TYPES_H
#define MM_TYPES_H

#include <stdint.h>

/* Extents of an NHWC tensor; tensors of lower rank are padded with leading 1s. */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} mm_dims;

/* A (height, width) pair: strides, dilations, filter sizes, top/left padding. */
typedef struct {
    int32_t h;
    int32_t w;
} mm_hw;

/* Per-output-channel requantization: out = round(acc * multiplier * 2^(shift - 31)).
 * multiplier in [2^30, 2^31) (or 0), shift in [-31, 30]. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} mm_channel_quant;

/* Convolution and depthwise convolution. */
typedef struct {
    mm_hw stride;
    mm_hw dilation;
    mm_hw padding;            /* rows above and columns left of the input; the rest below/right */
    int32_t input_zero_point; /* the value padding taps read, in [-128, 127] */
    int32_t output_offset;    /* the output zero point, in [-128, 127] */
    int32_t act_min;          /* fused activation clamp, -128 <= act_min <= act_max <= 127 */
    int32_t act_max;
    int32_t depth_multiplier; /* depthwise only: output channels per input channel */
} mm_conv_params;

typedef struct {
    mm_hw stride;
    mm_hw filter;
    mm_hw padding;
    int32_t act_min;
    int32_t act_max;
} mm_pool_params;

typedef struct {
    int32_t multiplier; /* input/output scale with 1/(H*W) folded in */
    int32_t shift;
    int32_t input_zero_point;
    int32_t output_zero_point;
} mm_mean_params;

typedef struct {
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} mm_fc_params;

typedef struct {
    int32_t input_multiplier; /* beta * input scale in Q5.26 terms, as a multiplier >= 1 */
    int32_t input_left_shift;
    int32_t diff_min; /* differences from the row maximum below this give 0 */
} mm_softmax_params;

typedef struct {
    int32_t input1_offset; /* minus the zero points */
    int32_t input2_offset;
    int32_t output_offset;
    int32_t left_shift;
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t output_multiplier;
    int32_t output_shift;
    int32_t act_min;
    int32_t act_max;
} mm_add_params;

typedef struct {
    int32_t before[4]; /* elements added before each NHWC dimension */
    int32_t value;     /* the value of added elements (the output zero point) */
} mm_pad_params;

typedef struct {
    float scale;
    int32_t zero_point;
} mm_affine_params;

typedef struct {
    int32_t multiplier;
    int32_t shift;
    int32_t input_zero_point;
    int32_t output_zero_point;
} mm_requantize_params;

#endif /* MM_TYPES_H */
