/* SPDX-License-Identifier: Apache-2.0 */
/* Fully connected layer. See mm_fully_connected.h. */
#include "mm_fully_connected.h"

#include "mm_fixed_point.h"

void mm_fully_connected_s8(const mm_fc_params *params, const mm_channel_quant *quant,
                           int32_t batches, int32_t depth, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int32_t output_depth,
                           int8_t *output)
{
    for (int32_t batch = 0; batch < batches; ++batch) {
        const int8_t *row = input + batch * depth;
        const int8_t *weights = filter;
        for (int32_t oc = 0; oc < output_depth; ++oc, weights += depth) {
            int32_t acc = bias[oc];
            for (int32_t i = 0; i < depth; ++i) {
                acc += weights[i] * row[i];
            }
            acc = mm_requantize(acc, quant->multiplier[oc], quant->shift[oc]);
            *output++ =
                (int8_t)mm_clamp(acc + params->output_offset, params->act_min, params->act_max);
        }
    }
}
