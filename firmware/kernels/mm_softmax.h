/* SPDX-License-Identifier: Apache-2.0 */
/* Softmax over the last dimension, int8 in, int8 out (portable C99).
 *
 * input  [ROWS, DEPTH]  int8, any quantization
 * output [ROWS, DEPTH]  int8, scale 1/256, zero point -128
 *
 * Matches TFLM's reference int8 Softmax bit for bit: differences from the row maximum are
 * rescaled to Q5.26, exponentiated in fixed point, summed in Q12.19 and normalised with a
 * fixed-point reciprocal (gemmlowp's algorithms, re-derived here).
 */
#ifndef MM_SOFTMAX_H
#define MM_SOFTMAX_H

#include "mm_types.h"

void mm_softmax_s8(const mm_softmax_params *params, int32_t rows, int32_t depth,
                   const int8_t *input, int8_t *output);

#endif /* MM_SOFTMAX_H */
