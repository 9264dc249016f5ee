/* SPDX-License-Identifier: Apache-2.0 */
/* Any 2-D convolution on the Helium matrix core, through patches. See mm_native_mve.h. */
#include "mm_native_mve.h"

/* count bytes from src to dst, 16 at a time under a VCTP predicate. */
static void copy_bytes(int8_t *dst, const int8_t *src, int32_t count)
{
    for (; count > 0; count -= 16, src += 16, dst += 16) {
        const mve_pred16_t lanes = vctp8q((uint32_t)count);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, lanes), lanes);
    }
}

static void fill_bytes(int8_t *dst, int8_t value, int32_t count)
{
    const int8x16_t values = vdupq_n_s8(value);
    for (; count > 0; count -= 16, dst += 16) {
        vstrbq_p_s8(dst, values, vctp8q((uint32_t)count));
    }
}

/* Packs the int8 values under the window of output pixel (out_y, out_x) into patch, in the
 * filter's [KH][KW][C_IN] order, taps outside the image reading the input zero point. A
 * window row whose columns are all inside the image is one contiguous copy. */
static void gather_patch(const mm_native_window *w, const int8_t *input, int32_t out_y,
                         int32_t out_x, int8_t *patch)
{
    const int32_t y0 = out_y * w->stride_h - w->pad_top;
    const int32_t x0 = out_x * w->stride_w - w->pad_left;
    const int32_t in_c = w->in_c, row_bytes = w->kernel_w * in_c;
    const int8_t zero_point = (int8_t)w->input_zero_point;
    const int columns_inside = w->dilation_w == 1 && x0 >= 0 && x0 + w->kernel_w <= w->in_w;
    for (int32_t ky = 0; ky < w->kernel_h; ++ky, patch += row_bytes) {
        const int32_t y = y0 + ky * w->dilation_h;
        if (y < 0 || y >= w->in_h) {
            fill_bytes(patch, zero_point, row_bytes);
            continue;
        }
        const int8_t *row = input + y * w->in_w * in_c;
        if (columns_inside) {
            copy_bytes(patch, row + x0 * in_c, row_bytes);
        } else {
            for (int32_t kx = 0; kx < w->kernel_w; ++kx) {
                const int32_t x = x0 + kx * w->dilation_w;
                if (x >= 0 && x < w->in_w) {
                    copy_bytes(patch + kx * in_c, row + x * in_c, in_c);
                } else {
                    fill_bytes(patch + kx * in_c, zero_point, in_c);
                }
            }
        }
    }
}

void mm_native_mve_conv_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                           const mm_native_window *window, const int8_t *input,
                           const int8_t *filter, int8_t *scratch, int8_t *output)
{
    const int32_t out_channels = params->out_channels;
    const int32_t pixels = window->out_h * window->out_w;
    int8_t *patch_a = scratch, *patch_b = scratch + params->depth;
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int has_b = pixel + 1 < pixels;
        gather_patch(window, input, pixel / window->out_w, pixel % window->out_w, patch_a);
        if (has_b) {
            const int32_t next = pixel + 1;
            gather_patch(window, input, next / window->out_w, next % window->out_w, patch_b);
        }
        int8_t *out_a = output + pixel * out_channels;
        mm_native_mve_gemm_pair_s8(params, channels, patch_a, patch_b, filter, out_a,
                                   has_b ? out_a + out_channels : 0);
    }
}
