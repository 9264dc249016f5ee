/* SPDX-License-Identifier: Apache-2.0 */
/* 2-D convolution, int8. See mm_conv.h. */
#include "mm_conv.h"

#include "mm_fixed_point.h"

void mm_conv2d_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                  const mm_dims *input_dims, const int8_t *input,
                  const mm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                  const mm_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t zero = params->input_zero_point;
    const int32_t filter_size = k_h * k_w * in_c;
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        const int8_t *image = input + batch * in_h * in_w * in_c;
        for (int32_t out_y = 0; out_y < out_h; ++out_y) {
            const int32_t y0 = out_y * params->stride.h - params->padding.h;
            for (int32_t out_x = 0; out_x < out_w; ++out_x) {
                const int32_t x0 = out_x * params->stride.w - params->padding.w;
                const int inside = y0 >= 0 && x0 >= 0 &&
                                   y0 + (k_h - 1) * params->dilation.h < in_h &&
                                   x0 + (k_w - 1) * params->dilation.w < in_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *weights = filter + oc * filter_size;
                    int32_t acc = bias[oc];
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t y = y0 + ky * params->dilation.h;
                        for (int32_t kx = 0; kx < k_w; ++kx, weights += in_c) {
                            const int32_t x = x0 + kx * params->dilation.w;
                            if (inside || (y >= 0 && y < in_h && x >= 0 && x < in_w)) {
                                const int8_t *pixel = image + (y * in_w + x) * in_c;
                                for (int32_t ic = 0; ic < in_c; ++ic) {
                                    acc += weights[ic] * pixel[ic];
                                }
                            } else {
                                for (int32_t ic = 0; ic < in_c; ++ic) {
                                    acc += weights[ic] * zero;
                                }
                            }
                        }
                    }
                    *output++ = mm_conv_output_value(params, quant, oc, acc);
                }
            }
        }
    }
}

/* Two filter rows times two input pixels: four dot products sharing every load. */
static void dot_2x2(const int8_t *w0, const int8_t *w1, const int8_t *a, const int8_t *b,
                    int32_t length, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
    for (int32_t i = 0; i < length; ++i) {
        const int32_t x = a[i], y = b[i], f = w0[i], g = w1[i];
        a0 += f * x;
        a1 += g * x;
        b0 += f * y;
        b1 += g * y;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static int32_t dot(const int8_t *weights, const int8_t *a, int32_t length, int32_t sum)
{
    for (int32_t i = 0; i < length; ++i) {
        sum += weights[i] * a[i];
    }
    return sum;
}

void mm_conv2d_1x1_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                      const mm_dims *input_dims, const int8_t *input,
                      const mm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const mm_dims *output_dims, int8_t *output)
{
    const int32_t in_c = input_dims->c, out_c = output_dims->c;
    const int32_t pixels = input_dims->n * input_dims->h * input_dims->w;
    int32_t pixel = 0;
    (void)filter_dims;
    for (; pixel + 2 <= pixels; pixel += 2) {
        const int8_t *a = input + pixel * in_c;
        const int8_t *b = a + in_c;
        int8_t *out_a = output + pixel * out_c;
        int8_t *out_b = out_a + out_c;
        int32_t oc = 0;
        for (; oc + 2 <= out_c; oc += 2) {
            const int8_t *w0 = filter + oc * in_c;
            int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
            dot_2x2(w0, w0 + in_c, a, b, in_c, acc);
            out_a[oc] = mm_conv_output_value(params, quant, oc, acc[0]);
            out_a[oc + 1] = mm_conv_output_value(params, quant, oc + 1, acc[1]);
            out_b[oc] = mm_conv_output_value(params, quant, oc, acc[2]);
            out_b[oc + 1] = mm_conv_output_value(params, quant, oc + 1, acc[3]);
        }
        if (oc < out_c) {
            const int8_t *w0 = filter + oc * in_c;
            out_a[oc] = mm_conv_output_value(params, quant, oc, dot(w0, a, in_c, bias[oc]));
            out_b[oc] = mm_conv_output_value(params, quant, oc, dot(w0, b, in_c, bias[oc]));
        }
    }
    if (pixel < pixels) {
        const int8_t *a = input + pixel * in_c;
        int8_t *out_a = output + pixel * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
            const int32_t acc = dot(filter + oc * in_c, a, in_c, bias[oc]);
            out_a[oc] = mm_conv_output_value(params, quant, oc, acc);
        }
    }
}
