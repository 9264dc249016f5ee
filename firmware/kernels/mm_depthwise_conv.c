/* SPDX-License-Identifier: Apache-2.0 */
/* Depthwise 2-D convolution, int8. See mm_depthwise_conv.h.
 *
 * The filter arrives transposed to [C_OUT, KH, KW], so one output channel's taps are
 * contiguous. 3x3 undilated filters (every MobileNet depthwise layer) take an unrolled path
 * inside the image and a clipped one on its edges; other filters a general path. Taps
 * outside the image count as the input zero point (the bias is folded, see mm_conv.h).
 */
#include "mm_depthwise_conv.h"

#include "mm_fixed_point.h"

static int32_t taps_3x3(const int8_t *filter, const int8_t *top, int32_t column,
                        int32_t row)
{
    const int8_t *middle = top + row, *bottom = middle + row;
    const int32_t column2 = 2 * column;
    return filter[0] * top[0] + filter[1] * top[column] + filter[2] * top[column2] +
           filter[3] * middle[0] + filter[4] * middle[column] + filter[5] * middle[column2] +
           filter[6] * bottom[0] + filter[7] * bottom[column] + filter[8] * bottom[column2];
}

/* All output channels of one pixel whose 3x3 window lies inside the image: `window` is its
 * top-left input pixel, `row` the bytes between image rows. */
static void pixel_3x3(const mm_conv_params *params, const mm_channel_quant *quant,
                      const int8_t *window, int32_t channels, int32_t row, const int8_t *filter,
                      const int32_t *bias, int8_t *output)
{
    const int32_t multiplier = params->depth_multiplier;
    if (multiplier == 1) { /* the common case, kept free of the inner loop */
        for (int32_t c = 0; c < channels; ++c, ++window, filter += 9) {
            const int32_t acc = bias[c] + taps_3x3(filter, window, channels, row);
            output[c] = mm_conv_output_value(params, quant, c, acc);
        }
        return;
    }
    int32_t oc = 0;
    for (int32_t c = 0; c < channels; ++c, ++window) {
        for (int32_t m = 0; m < multiplier; ++m, ++oc, filter += 9) {
            const int32_t acc = bias[oc] + taps_3x3(filter, window, channels, row);
            output[oc] = mm_conv_output_value(params, quant, oc, acc);
        }
    }
}

/* All output channels of one pixel whose 3x3 window crosses the image's edge: only the
 * in-image taps [ky0, ky1) x [kx0, kx1) are read; the others count as the zero point. */
static void pixel_3x3_clipped(const mm_conv_params *params, const mm_channel_quant *quant,
                              const mm_dims *input_dims, const int8_t *image, int32_t y0,
                              int32_t x0, const int8_t *filter, const int32_t *bias,
                              int8_t *output)
{
    const int32_t in_c = input_dims->c, row = input_dims->w * in_c;
    const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + 3 > input_dims->h ? input_dims->h - y0 : 3;
    const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + 3 > input_dims->w ? input_dims->w - x0 : 3;
    const int32_t multiplier = params->depth_multiplier;
    const int8_t *first_tap = image + (y0 + ky0) * row + (x0 + kx0) * in_c;
    int32_t oc = 0;
    for (int32_t ic = 0; ic < in_c; ++ic) {
        for (int32_t m = 0; m < multiplier; ++m, ++oc, filter += 9) {
            int32_t acc = 0, all = 0, inside = 0;
            for (int32_t tap = 0; tap < 9; ++tap) {
                all += filter[tap];
            }
            const int8_t *line = first_tap + ic;
            for (int32_t ky = ky0; ky < ky1; ++ky, line += row) {
                const int8_t *pixel = line;
                for (int32_t kx = kx0; kx < kx1; ++kx, pixel += in_c) {
                    const int32_t weight = filter[ky * 3 + kx];
                    acc += weight * *pixel;
                    inside += weight;
                }
            }
            acc += (all - inside) * params->input_zero_point + bias[oc];
            output[oc] = mm_conv_output_value(params, quant, oc, acc);
        }
    }
}

/* One channel of any window at any position (dilated or not 3x3). */
static int32_t window_clipped(const mm_conv_params *params, const mm_dims *input_dims,
                              const int8_t *image, int32_t channel, int32_t y0, int32_t x0,
                              const int8_t *weights, int32_t k_h, int32_t k_w)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    int32_t acc = 0, outside = 0;
    for (int32_t ky = 0; ky < k_h; ++ky, weights += k_w) {
        const int32_t y = y0 + ky * params->dilation.h;
        if (y < 0 || y >= in_h) {
            for (int32_t kx = 0; kx < k_w; ++kx) {
                outside += weights[kx];
            }
            continue;
        }
        const int8_t *line = image + y * in_w * in_c + channel;
        for (int32_t kx = 0; kx < k_w; ++kx) {
            const int32_t x = x0 + kx * params->dilation.w;
            if (x < 0 || x >= in_w) {
                outside += weights[kx];
            } else {
                acc += weights[kx] * line[x * in_c];
            }
        }
    }
    return acc + outside * params->input_zero_point;
}

void mm_depthwise_conv2d_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                            const mm_dims *input_dims, const int8_t *input,
                            const mm_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias, const mm_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, taps = k_h * k_w;
    const int32_t out_c = output_dims->c;
    const int32_t multiplier = params->depth_multiplier;
    const int32_t row = in_w * in_c;
    const int fast = k_h == 3 && k_w == 3 && params->dilation.h == 1 && params->dilation.w == 1;
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        const int8_t *image = input + batch * in_h * row;
        for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
            const int32_t y0 = out_y * params->stride.h - params->padding.h;
            for (int32_t out_x = 0; out_x < output_dims->w; ++out_x, output += out_c) {
                const int32_t x0 = out_x * params->stride.w - params->padding.w;
                const int inside = y0 >= 0 && x0 >= 0 &&
                                   y0 + (k_h - 1) * params->dilation.h < in_h &&
                                   x0 + (k_w - 1) * params->dilation.w < in_w;
                if (fast) {
                    if (inside) {
                        pixel_3x3(params, quant, image + y0 * row + x0 * in_c, in_c, row, filter,
                                  bias, output);
                    } else {
                        pixel_3x3_clipped(params, quant, input_dims, image, y0, x0, filter, bias,
                                          output);
                    }
                    continue;
                }
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t acc = window_clipped(params, input_dims, image,
                                                       oc / multiplier, y0, x0,
                                                       filter + oc * taps, k_h, k_w);
                    output[oc] = mm_conv_output_value(params, quant, oc, acc + bias[oc]);
                }
            }
        }
    }
}
