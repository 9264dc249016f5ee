/* SPDX-License-Identifier: Apache-2.0 */
/* The matrix-product core of the native kernels: two widened rows times every filter row.
 * See mm_native.h for the layouts. */
#include "mm_native.h"

/* Two output channels of two rows: each filter word is widened once and used four times.
 * On DSP cores one assembly loop of 16 instructions per 16 multiply-accumulates, because it
 * needs all 14 allocatable registers at once and the compiler's version spills and reindexes
 * (20 instructions); elsewhere the same computation in C. */
static inline void dot_2x2(int32_t groups, const int32_t *rows, const int32_t *filter,
                           int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
#if MM_NATIVE_DSP
    /* LDM fills registers in ascending order: the four row words get r8-r11 in order. */
    register int32_t xa0 __asm__("r8");
    register int32_t xa1 __asm__("r9");
    register int32_t xb0 __asm__("r10");
    register int32_t xb1 __asm__("r11");
    int32_t word0, word1, even;
    __asm__("1:\n\t"
            "ldm %[rows]!, {%[xa0], %[xa1], %[xb0], %[xb1]}\n\t"
            "ldrd %[word0], %[word1], [%[filter]], #8\n\t"
            "sxtb16 %[even], %[word0]\n\t"
            "sxtb16 %[word0], %[word0], ror #8\n\t"
            "smlad %[a0], %[xa0], %[even], %[a0]\n\t"
            "smlad %[a0], %[xa1], %[word0], %[a0]\n\t"
            "smlad %[b0], %[xb0], %[even], %[b0]\n\t"
            "smlad %[b0], %[xb1], %[word0], %[b0]\n\t"
            "sxtb16 %[even], %[word1]\n\t"
            "sxtb16 %[word1], %[word1], ror #8\n\t"
            "smlad %[a1], %[xa0], %[even], %[a1]\n\t"
            "smlad %[a1], %[xa1], %[word1], %[a1]\n\t"
            "smlad %[b1], %[xb0], %[even], %[b1]\n\t"
            "smlad %[b1], %[xb1], %[word1], %[b1]\n\t"
            "subs %[groups], %[groups], #1\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [rows] "+r"(rows),
              [filter] "+r"(filter), [groups] "+r"(groups), [xa0] "=&r"(xa0), [xa1] "=&r"(xa1),
              [xb0] "=&r"(xb0), [xb1] "=&r"(xb1), [word0] "=&r"(word0), [word1] "=&r"(word1),
              [even] "=&r"(even)
            :
            : "cc", "memory");
#else
    for (; groups > 0; --groups, rows += 4, filter += 2) {
        const int32_t xa0 = rows[0], xa1 = rows[1], xb0 = rows[2], xb1 = rows[3];
        const uint32_t word0 = (uint32_t)filter[0], word1 = (uint32_t)filter[1];
        int32_t even = mm_sxtb16(word0), odd = mm_sxtb16_ror8(word0);
        a0 = mm_smlad(xa0, even, a0);
        a0 = mm_smlad(xa1, odd, a0);
        b0 = mm_smlad(xb0, even, b0);
        b0 = mm_smlad(xb1, odd, b0);
        even = mm_sxtb16(word1);
        odd = mm_sxtb16_ror8(word1);
        a1 = mm_smlad(xa0, even, a1);
        a1 = mm_smlad(xa1, odd, a1);
        b1 = mm_smlad(xb0, even, b1);
        b1 = mm_smlad(xb1, odd, b1);
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* The last channel of an odd count: one filter word per group. */
static inline void dot_2x1(int32_t groups, const int32_t *rows, const int32_t *filter,
                           int32_t acc[2])
{
    int32_t a = acc[0], b = acc[1];
    for (; groups > 0; --groups, rows += 4, ++filter) {
        const uint32_t word = (uint32_t)filter[0];
        const int32_t even = mm_sxtb16(word), odd = mm_sxtb16_ror8(word);
        a = mm_smlad(rows[0], even, a);
        a = mm_smlad(rows[1], odd, a);
        b = mm_smlad(rows[2], even, b);
        b = mm_smlad(rows[3], odd, b);
    }
    acc[0] = a;
    acc[1] = b;
}

/* The whole product for one output mode; `mode` is a constant in each caller below, so the
 * requantization compiles to its short form. */
static MM_ALWAYS_INLINE void gemm_pair(const mm_native_gemm_params *params,
                                       const mm_native_channel *channels, const int32_t *rows,
                                       const int32_t *filter, int8_t *out_a, int8_t *out_b,
                                       mm_native_output_mode mode)
{
    const int32_t groups = params->groups;
    const int32_t out_channels = params->out_channels;
    const mm_native_output output = {params->output.act_min, params->output.act_max, mode};
    int32_t channel = 0;
    for (; channel + 2 <= out_channels; channel += 2, filter += 2 * groups) {
        const mm_native_channel *first = &channels[channel], *second = first + 1;
        int32_t acc[4] = {first->bias, second->bias, first->bias, second->bias};
        dot_2x2(groups, rows, filter, acc);
        out_a[channel] = mm_native_requantize(acc[0], first, &output);
        out_a[channel + 1] = mm_native_requantize(acc[1], second, &output);
        if (out_b != 0) {
            out_b[channel] = mm_native_requantize(acc[2], first, &output);
            out_b[channel + 1] = mm_native_requantize(acc[3], second, &output);
        }
    }
    if (channel < out_channels) {
        const mm_native_channel *last = &channels[channel];
        int32_t acc[2] = {last->bias, last->bias};
        dot_2x1(groups, rows, filter, acc);
        out_a[channel] = mm_native_requantize(acc[0], last, &output);
        if (out_b != 0) {
            out_b[channel] = mm_native_requantize(acc[1], last, &output);
        }
    }
}

void mm_native_gemm_pair_s8(const mm_native_gemm_params *params,
                            const mm_native_channel *channels, const int32_t *rows,
                            const int32_t *filter, int8_t *out_a, int8_t *out_b)
{
    if (params->output.mode == MM_NATIVE_OUTPUT_SATURATE) {
        gemm_pair(params, channels, rows, filter, out_a, out_b, MM_NATIVE_OUTPUT_SATURATE);
    } else {
        gemm_pair(params, channels, rows, filter, out_a, out_b, MM_NATIVE_OUTPUT_CLAMP);
    }
}
