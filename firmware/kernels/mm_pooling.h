/* SPDX-License-Identifier: Apache-2.0 */
/* Average pooling and the mean over height and width, int8 (portable C99).
 *
 * input  [N, H, W, C]  int8
 * output [N, H_OUT, W_OUT, C] (average pooling) or [N, C] (mean)  int8
 */
#ifndef MM_POOLING_H
#define MM_POOLING_H

#include "mm_types.h"

/* TFLM's reference int8 AveragePool: the average of the window's in-image values, rounded
 * half away from zero, clamped; no rescaling (input and output share their quantization).
 * Output pixels are written in increasing address order after reading their window. */
void mm_avg_pool2d_s8(const mm_pool_params *params, const mm_dims *input_dims,
                      const int8_t *input, const mm_dims *output_dims, int8_t *output);

/* TFLM's int8 MEAN over axes 1 and 2 (global average pooling): per channel, the sum minus
 * H*W times the input zero point, requantized, plus the output zero point. */
void mm_mean_hw_s8(const mm_mean_params *params, const mm_dims *input_dims,
                   const int8_t *input, int8_t *output);

#endif /* MM_POOLING_H */
