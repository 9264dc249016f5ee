/* SPDX-License-Identifier: Apache-2.0 */
/* Element-wise kernels. See mm_elementwise.h. */
#include "mm_elementwise.h"

#include <math.h>
#include <string.h>

#include "mm_fixed_point.h"

/* MultiplyByQuantizedMultiplierSmallerThanOneExp: shift <= 0. */
static int32_t scale_down(int32_t x, int32_t multiplier, int32_t shift)
{
    return mm_rounding_divide_by_pot(mm_doubling_high_mul(x, multiplier), -shift);
}

void mm_add_s8(const mm_add_params *params, int32_t size, const int8_t *input1,
               const int8_t *input2, int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        const int32_t a = mm_shift_left(params->input1_offset + input1[i], params->left_shift);
        const int32_t b = mm_shift_left(params->input2_offset + input2[i], params->left_shift);
        const int32_t sum = scale_down(a, params->input1_multiplier, params->input1_shift) +
                            scale_down(b, params->input2_multiplier, params->input2_shift);
        const int32_t value =
            scale_down(sum, params->output_multiplier, params->output_shift) +
            params->output_offset;
        output[i] = (int8_t)mm_clamp(value, params->act_min, params->act_max);
    }
}

void mm_pad_s8(const mm_pad_params *params, const mm_dims *input_dims, const int8_t *input,
               const mm_dims *output_dims, int8_t *output)
{
    const int32_t out_row = output_dims->w * output_dims->c;
    const int32_t out_image = output_dims->h * out_row;
    memset(output, params->value, (size_t)output_dims->n * (size_t)out_image);
    for (int32_t n = 0; n < input_dims->n; ++n) {
        for (int32_t y = 0; y < input_dims->h; ++y) {
            for (int32_t x = 0; x < input_dims->w; ++x) {
                const int8_t *source =
                    input + ((n * input_dims->h + y) * input_dims->w + x) * input_dims->c;
                int8_t *target = output + (n + params->before[0]) * out_image +
                                 (y + params->before[1]) * out_row +
                                 (x + params->before[2]) * output_dims->c + params->before[3];
                memcpy(target, source, (size_t)input_dims->c);
            }
        }
    }
}

void mm_quantize_f32_s8(const mm_affine_params *params, int32_t size, const float *input,
                        int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        float rounded = roundf(input[i] / params->scale);
        /* Saturate in float first: converting an out-of-range float to int is undefined. */
        rounded = rounded < -1000.0f ? -1000.0f : (rounded > 1000.0f ? 1000.0f : rounded);
        const int32_t value = (int32_t)rounded + params->zero_point;
        output[i] = (int8_t)mm_clamp(value, -128, 127);
    }
}

void mm_dequantize_s8_f32(const mm_affine_params *params, int32_t size, const int8_t *input,
                          float *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = (float)((double)params->scale * (double)(input[i] - params->zero_point));
    }
}

void mm_requantize_s8(const mm_requantize_params *params, int32_t size, const int8_t *input,
                      int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        const int32_t value = mm_requantize(input[i] - params->input_zero_point,
                                            params->multiplier, params->shift) +
                              params->output_zero_point;
        output[i] = (int8_t)mm_clamp(value, -128, 127);
    }
}
