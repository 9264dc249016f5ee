/* SPDX-License-Identifier: Apache-2.0 */
/* 2-D convolution, int8 (portable C99).
 *
 * input  [N, H, W, C_IN]            int8, zero point params->input_zero_point
 * filter [C_OUT, KH, KW, C_IN]      int8, symmetric (zero point 0), per-channel scales
 * bias   [C_OUT]                    int32, folded on the host:
 *                                   bias + (-input_zero_point) * sum(filter[c_out])
 * output [N, H_OUT, W_OUT, C_OUT]   int8
 *
 * Matches TFLM's reference ConvPerChannel bit for bit. The output is written pixel by pixel in
 * increasing address order, each pixel after reading only input rows at or below its window,
 * so the compiler may place the output over the input (see compiler/planner.py).
 */
#ifndef MM_CONV_H
#define MM_CONV_H

#include "mm_types.h"

/* Any filter size, stride, dilation and padding. */
void mm_conv2d_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                  const mm_dims *input_dims, const int8_t *input,
                  const mm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                  const mm_dims *output_dims, int8_t *output);

/* 1x1 filter, stride 1, no padding (pointwise): a matrix product over pixels. Computes two
 * pixels per step: both input pixels are read before either output pixel is written. */
void mm_conv2d_1x1_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                      const mm_dims *input_dims, const int8_t *input,
                      const mm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const mm_dims *output_dims, int8_t *output);

#endif /* MM_CONV_H */
