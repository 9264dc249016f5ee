/* Depthwise 2-D convolution, int8. See mm_depthwise_conv.h. */
#include "mm_depthwise_conv.h"

#include "mm_fixed_point.h"

void mm_depthwise_conv2d_s8(const mm_conv_params *params, const mm_channel_quant *quant,
                            const mm_dims *input_dims, const int8_t *input,
                            const mm_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias, const mm_dims *output_dims, int8_t *output) {
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t multiplier = params->depth_multiplier;
    const int32_t zero = params->input_zero_point;
    const int32_t dil_h = params->dilation.h, dil_w = params->dilation.w;
    const int32_t row_stride = in_w * in_c;
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        const int8_t *image = input + batch * in_h * row_stride;
        for (int32_t out_y = 0; out_y < out_h; ++out_y) {
            const int32_t y0 = out_y * params->stride.h - params->padding.h;
            for (int32_t out_x = 0; out_x < out_w; ++out_x) {
                const int32_t x0 = out_x * params->stride.w - params->padding.w;
                const int inside = y0 >= 0 && x0 >= 0 && y0 + (k_h - 1) * dil_h < in_h &&
                                   x0 + (k_w - 1) * dil_w < in_w;
                /* Only formed when the window is inside the image (no out-of-range pointer). */
                const int8_t *origin = inside ? image + y0 * row_stride + x0 * in_c : image;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t ic = oc / multiplier;
                    const int8_t *weights = filter + oc;
                    int32_t acc = bias[oc];
                    if (inside) {
                        const int8_t *row = origin + ic;
                        for (int32_t ky = 0; ky < k_h; ++ky, row += dil_h * row_stride) {
                            const int8_t *tap = row;
                            for (int32_t kx = 0; kx < k_w; ++kx, tap += dil_w * in_c) {
                                acc += *weights * *tap;
                                weights += out_c;
                            }
                        }
                    } else {
                        for (int32_t ky = 0; ky < k_h; ++ky) {
                            const int32_t y = y0 + ky * dil_h;
                            for (int32_t kx = 0; kx < k_w; ++kx, weights += out_c) {
                                const int32_t x = x0 + kx * dil_w;
                                const int32_t value =
                                    (y >= 0 && y < in_h && x >= 0 && x < in_w)
                                        ? image[y * row_stride + x * in_c + ic]
                                        : zero;
                                acc += *weights * value;
                            }
                        }
                    }
                    acc = mm_requantize(acc, quant->multiplier[oc], quant->shift[oc]);
                    *output++ = (int8_t)mm_clamp(acc + params->output_offset, params->act_min,
                                                 params->act_max);
                }
            }
        }
    }
}
