/* SPDX-License-Identifier: Apache-2.0 */
/* Fully connected layer, int8 (portable C99).
 *
 * input  [BATCHES, DEPTH]          int8 (any tensor, flattened)
 * filter [OUTPUT_DEPTH, DEPTH]     int8, zero point 0, per-tensor or per-channel scales
 * bias   [OUTPUT_DEPTH]            int32, folded: bias + input_offset * sum(filter row)
 * output [BATCHES, OUTPUT_DEPTH]   int8
 *
 * Matches TFLM's reference FullyConnected / FullyConnectedPerChannel (a per-tensor scale is
 * given as the same multiplier for every channel).
 */
#ifndef MM_FULLY_CONNECTED_H
#define MM_FULLY_CONNECTED_H

#include "mm_types.h"

void mm_fully_connected_s8(const mm_fc_params *params, const mm_channel_quant *quant,
                           int32_t batches, int32_t depth, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int32_t output_depth,
                           int8_t *output);

#endif /* MM_FULLY_CONNECTED_H */
