/* SPDX-License-Identifier: Apache-2.0 */
/* Depthwise 2-D convolution, int8 (portable C99).
 *
 * input  [N, H, W, C_IN]                 int8, zero point params->input_zero_point
 * filter [C_IN * M, KH, KW]             int8, symmetric, per-channel scales; M is
 *                                        params->depth_multiplier, output channel c*M + m
 *                                        reads input channel c. (TFLite stores [1, KH, KW,
 *                                        C_OUT]; the compiler transposes it.) filter_dims
 *                                        describes this layout: {C_OUT, KH, KW, 1}.
 * bias   [C_IN * M]                      int32, folded on the host (see mm_conv.h)
 * output [N, H_OUT, W_OUT, C_IN * M]     int8
 *
 * Matches TFLM's reference DepthwiseConvPerChannel bit for bit. Output pixels are written in
 * increasing address order, each after reading only input rows at or below its window.
 */
#ifndef MM_DEPTHWISE_CONV_H
#define MM_DEPTHWISE_CONV_H

#include "mm_types.h"

void mm_depthwise_conv2d_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                            const mm_dims *input_dims, const int8_t *input,
                            const mm_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias, const mm_dims *output_dims, int8_t *output);

#endif /* MM_DEPTHWISE_CONV_H */
