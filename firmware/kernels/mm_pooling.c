/* SPDX-License-Identifier: Apache-2.0 */
/* Average pooling and mean. See mm_pooling.h. */
#include "mm_pooling.h"

#include "mm_fixed_point.h"

void mm_avg_pool2d_s8(const mm_pool_params *params, const mm_dims *input_dims,
                      const int8_t *input, const mm_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, channels = input_dims->c;
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        const int8_t *image = input + batch * in_h * in_w * channels;
        for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
            const int32_t y0 = out_y * params->stride.h - params->padding.h;
            const int32_t y_start = y0 < 0 ? 0 : y0;
            const int32_t y_end = y0 + params->filter.h < in_h ? y0 + params->filter.h : in_h;
            for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
                const int32_t x0 = out_x * params->stride.w - params->padding.w;
                const int32_t x_start = x0 < 0 ? 0 : x0;
                const int32_t x_end = x0 + params->filter.w < in_w ? x0 + params->filter.w : in_w;
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                for (int32_t c = 0; c < channels; ++c) {
                    int32_t sum = 0;
                    for (int32_t y = y_start; y < y_end; ++y) {
                        for (int32_t x = x_start; x < x_end; ++x) {
                            sum += image[(y * in_w + x) * channels + c];
                        }
                    }
                    /* An empty window cannot occur: the compiler checks the output size. */
                    const int32_t average =
                        sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    *output++ = (int8_t)mm_clamp(average, params->act_min, params->act_max);
                }
            }
        }
    }
}

void mm_mean_hw_s8(const mm_mean_params *params, const mm_dims *input_dims,
                   const int8_t *input, int8_t *output)
{
    const int32_t channels = input_dims->c;
    const int32_t count = input_dims->h * input_dims->w;
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        const int8_t *image = input + batch * count * channels;
        for (int32_t c = 0; c < channels; ++c) {
            int32_t sum = 0;
            for (int32_t i = 0; i < count; ++i) {
                sum += image[i * channels + c];
            }
            const int32_t shifted = sum - params->input_zero_point * count;
            const int32_t value = mm_requantize(shifted, params->multiplier, params->shift) +
                                  params->output_zero_point;
            *output++ = (int8_t)mm_clamp(value, -128, 127);
        }
    }
}
