/* SPDX-License-Identifier: Apache-2.0 */
/* 1x1 convolution (and FULLY_CONNECTED) on the matrix core. See mm_native.h. */
#include "mm_native.h"

/* The doubled int16 pairs of one word of four int8 values: values 0, 2 and 1, 3. */
static inline void widen_word(uint32_t word, int32_t *even, int32_t *odd)
{
    *even = mm_double_pair(mm_sxtb16(word));
    *odd = mm_double_pair(mm_sxtb16_ror8(word));
}

/* The last, partial group of a row: the missing values are zeros (so are their weights). */
static uint32_t tail_word(const int8_t *values, int32_t count)
{
    uint32_t word = 0u;
    for (int32_t i = 0; i < count; ++i) {
        word |= (uint32_t)(uint8_t)values[i] << (8 * i);
    }
    return word;
}

/* Rows a and b (b may be null: zeros) widened into rows[4g .. 4g + 3] = a even, a odd,
 * b even, b odd. */
static void widen_rows(const int8_t *a, const int8_t *b, int32_t length, int32_t *rows)
{
    const int32_t whole = length / 4, rest = length % 4;
    for (int32_t g = 0; g < whole; ++g, rows += 4) {
        widen_word(mm_load_u32(a + 4 * g), &rows[0], &rows[1]);
        widen_word(b != 0 ? mm_load_u32(b + 4 * g) : 0u, &rows[2], &rows[3]);
    }
    if (rest != 0) {
        widen_word(tail_word(a + 4 * whole, rest), &rows[0], &rows[1]);
        widen_word(b != 0 ? tail_word(b + 4 * whole, rest) : 0u, &rows[2], &rows[3]);
    }
}

void mm_native_pointwise_s8(const mm_native_gemm_params *params,
                            const mm_native_channel *channels, int32_t pixels,
                            int32_t in_channels, const int8_t *input, const int32_t *filter,
                            int32_t *scratch, int8_t *output)
{
    const int32_t out_channels = params->out_channels;
    int32_t pixel = 0;
    for (; pixel + 2 <= pixels; pixel += 2) {
        const int8_t *a = input + pixel * in_channels;
        int8_t *out_a = output + pixel * out_channels;
        widen_rows(a, a + in_channels, in_channels, scratch);
        mm_native_gemm_pair_s8(params, channels, scratch, filter, out_a, out_a + out_channels);
    }
    if (pixel < pixels) {
        widen_rows(input + pixel * in_channels, 0, in_channels, scratch);
        mm_native_gemm_pair_s8(params, channels, scratch, filter, output + pixel * out_channels,
                               0);
    }
}
