/* SPDX-License-Identifier: Apache-2.0 */
/* 1x1 convolution (and FULLY_CONNECTED) on the Helium matrix core. See mm_native_mve.h. */
#include "mm_native_mve.h"

void mm_native_mve_pointwise_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                                int32_t pixels, const int8_t *input, const int8_t *filter,
                                int8_t *output)
{
    const int32_t depth = params->depth, out_channels = params->out_channels;
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int8_t *a = input + pixel * depth;
        int8_t *out_a = output + pixel * out_channels;
        const int has_b = pixel + 1 < pixels;
        mm_native_mve_gemm_pair_s8(params, channels, a, a + depth, filter, out_a,
                                   has_b ? out_a + out_channels : 0);
    }
}
