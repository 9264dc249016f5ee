/* SPDX-License-Identifier: Apache-2.0 */
/* Any 2-D convolution on the matrix core, through patches. See mm_native.h. */
#include "mm_native.h"

/* Packs the int8 values under the window of output pixel (out_y, out_x) into patch, in the
 * filter's [KH][KW][C_IN] order, taps outside the image reading the input zero point. */
static void gather_patch(const mm_native_window *w, const int8_t *input, int32_t out_y,
                         int32_t out_x, int8_t *patch)
{
    const int32_t y0 = out_y * w->stride_h - w->pad_top;
    const int32_t x0 = out_x * w->stride_w - w->pad_left;
    for (int32_t ky = 0; ky < w->kernel_h; ++ky) {
        const int32_t y = y0 + ky * w->dilation_h;
        for (int32_t kx = 0; kx < w->kernel_w; ++kx, patch += w->in_c) {
            const int32_t x = x0 + kx * w->dilation_w;
            if (y >= 0 && y < w->in_h && x >= 0 && x < w->in_w) {
                memcpy(patch, input + (y * w->in_w + x) * w->in_c, (size_t)w->in_c);
            } else {
                memset(patch, w->input_zero_point, (size_t)w->in_c);
            }
        }
    }
}

/* Two gathered patches (b may be null) widened into the matrix core's row layout. */
static void widen_patches(const int8_t *a, const int8_t *b, int32_t groups, int32_t *rows)
{
    for (int32_t g = 0; g < groups; ++g, rows += 4) {
        const uint32_t word_a = mm_load_u32(a + 4 * g);
        const uint32_t word_b = b != 0 ? mm_load_u32(b + 4 * g) : 0u;
        rows[0] = mm_double_pair(mm_sxtb16(word_a));
        rows[1] = mm_double_pair(mm_sxtb16_ror8(word_a));
        rows[2] = mm_double_pair(mm_sxtb16(word_b));
        rows[3] = mm_double_pair(mm_sxtb16_ror8(word_b));
    }
}

void mm_native_conv_s8(const mm_native_gemm_params *params, const mm_native_channel *channels,
                       const mm_native_window *window, const int8_t *input,
                       const int32_t *filter, int32_t *scratch, int8_t *output)
{
    const int32_t groups = params->groups, out_channels = params->out_channels;
    const int32_t pixels = window->out_h * window->out_w;
    /* scratch: the widened rows (4 words per group), then the two raw patches. */
    int8_t *patch_a = (int8_t *)(scratch + 4 * groups);
    int8_t *patch_b = patch_a + 4 * groups;
    memset(patch_a, 0, (size_t)(8 * groups)); /* the padding of the last group stays zero */
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int has_b = pixel + 1 < pixels;
        gather_patch(window, input, pixel / window->out_w, pixel % window->out_w, patch_a);
        if (has_b) {
            const int32_t next = pixel + 1;
            gather_patch(window, input, next / window->out_w, next % window->out_w, patch_b);
        }
        widen_patches(patch_a, has_b ? patch_b : 0, groups, scratch);
        int8_t *out_a = output + pixel * out_channels;
        mm_native_gemm_pair_s8(params, channels, scratch, filter, out_a,
                               has_b ? out_a + out_channels : 0);
    }
}
