/* SPDX-License-Identifier: Apache-2.0 */
/* The Helium matrix core: two rows times every filter row. See mm_native_mve.h for the layouts. */
#include "mm_native_mve.h"

typedef struct {
    int32x4_t a; /* row a's sums for the group's four channels */
    int32x4_t b; /* row b's */
} group_sums_t;

/* The group's four filter rows against rows a and b, 16 bytes at a time: 6 loads and 8
 * VMLADAVA per 128 multiply-accumulates, the last partial 16 bytes of the rows read under a
 * VCTP predicate (the filter is zero-padded). VMLADAVA accumulates only into even registers
 * and the eight sums need all of them, lr included, so the loop is assembly; the sums start
 * at the biases and end as two vectors ("vmov q[2], q[0], rx, ry" puts rx in lane 0 and ry
 * in lane 2). `filter` is left at the next group's filter. */
static inline group_sums_t dot_2x4(const int8_t *a, const int8_t *b, const int8_t **filter,
                                   int32_t depth, const int32_t *bias)
{
    register int32_t a0 __asm__("r0");
    register int32_t a1 __asm__("r2");
    register int32_t a2 __asm__("r4");
    register int32_t a3 __asm__("r6");
    register int32_t b0 __asm__("r8");
    register int32_t b1 __asm__("r10");
    register int32_t b2 __asm__("r12");
    register int32_t b3 __asm__("lr");
    const int8_t *w = *filter;
    group_sums_t sums;
/* clang-format off */
#define MM_DOT_2X4_CHUNK                                                                      \
    "vldrb.8 q2, [%[w]], #16\n\t"                                                              \
    "vmladava.s8 %[a0], q0, q2\n\t"                                                            \
    "vmladava.s8 %[b0], q1, q2\n\t"                                                            \
    "vldrb.8 q3, [%[w]], #16\n\t"                                                              \
    "vmladava.s8 %[a1], q0, q3\n\t"                                                            \
    "vmladava.s8 %[b1], q1, q3\n\t"                                                            \
    "vldrb.8 q2, [%[w]], #16\n\t"                                                              \
    "vmladava.s8 %[a2], q0, q2\n\t"                                                            \
    "vmladava.s8 %[b2], q1, q2\n\t"                                                            \
    "vldrb.8 q3, [%[w]], #16\n\t"                                                              \
    "vmladava.s8 %[a3], q0, q3\n\t"                                                            \
    "vmladava.s8 %[b3], q1, q3\n\t"
    /* clang-format on */
    __asm__("ldm %[bias], {%[a0], %[a1], %[a2], %[a3]}\n\t"
            "ldm %[bias], {%[b0], %[b1], %[b2], %[b3]}\n\t"
            "subs %[depth], %[depth], #16\n\t"
            "blt 2f\n"
            "1:\n\t"
            "vldrb.8 q0, [%[a]], #16\n\t"
            "vldrb.8 q1, [%[b]], #16\n\t" MM_DOT_2X4_CHUNK
            "subs %[depth], %[depth], #16\n\t"
            "bge 1b\n"
            "2:\n\t"
            "adds %[depth], %[depth], #16\n\t"
            "beq 3f\n\t"
            "vctp.8 %[depth]\n\t"
            "vpstt\n\t"
            "vldrbt.8 q0, [%[a]]\n\t"
            "vldrbt.8 q1, [%[b]]\n\t" MM_DOT_2X4_CHUNK
            "\n3:\n\t"
            "vmov %q[va][2], %q[va][0], %[a0], %[a2]\n\t"
            "vmov %q[va][3], %q[va][1], %[a1], %[a3]\n\t"
            "vmov %q[vb][2], %q[vb][0], %[b0], %[b2]\n\t"
            "vmov %q[vb][3], %q[vb][1], %[b1], %[b3]"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [b0] "=&r"(b0),
              [b1] "=&r"(b1), [b2] "=&r"(b2), [b3] "=&r"(b3), [va] "=&w"(sums.a),
              [vb] "=&w"(sums.b), [a] "+r"(a), [b] "+r"(b), [w] "+r"(w), [depth] "+r"(depth)
            : [bias] "r"(bias)
            : "q0", "q1", "q2", "q3", "memory", "cc");
#undef MM_DOT_2X4_CHUNK
    *filter = w;
    return sums;
}

/* The requantization of mm_native_mve.h (multipliers at channels + 4, negated shifts at
 * channels + 8) of both rows' sums, stored under a VCTP predicate for the last group. */
/* clang-format off */
#define MM_REQUANTIZE_PAIR(fix_a, fix_b)                                                       \
    "vldrw.u32 q1, [%[channels], #16]\n\t"                                                     \
    "vldrw.u32 q2, [%[channels], #32]\n\t"                                                     \
    MM_NATIVE_MVE_REQUANTIZE("%q[a]", "q1", "q2", "%[zero_point]", fix_a)                      \
    MM_NATIVE_MVE_REQUANTIZE("%q[b]", "q1", "q2", "%[zero_point]", fix_b)                      \
    "vctp.32 %[count]\n\t"                                                                     \
    "vpstt\n\t"                                                                                \
    "vstrbt.32 %q[b], [%[out_b]]\n\t"                                                          \
    "vstrbt.32 %q[a], [%[out_a]]"                                                               \
    : [a] "+w"(sums.a), [b] "+w"(sums.b)                                                       \
    : [channels] "r"(channels), [zero_point] "r"(zero_point), [act_min] "w"(act_min),          \
      [act_max] "w"(act_max), [count] "r"(out_channels - channel), [out_a] "l"(out_a + channel), \
      [out_b] "l"(out_b + channel)                                                             \
    : "q1", "q2", "q3", "memory"
/* clang-format on */

/* out_b null: row a twice, both stored to out_a (b first, so a's equal values land last). */
static MM_ALWAYS_INLINE void gemm_pair(const mm_native_mve_gemm_params *params,
                                       const int32_t *channels, const int8_t *row_a,
                                       const int8_t *row_b, const int8_t *filter, int8_t *out_a,
                                       int8_t *out_b, mm_native_mve_ties ties)
{
    const int32_t depth = params->depth, out_channels = params->out_channels;
    const int32_t zero_point = params->output.zero_point;
    const int32x4_t act_min = vdupq_n_s32(params->output.act_min);
    const int32x4_t act_max = vdupq_n_s32(params->output.act_max);
    if (out_b == 0) {
        row_b = row_a;
        out_b = out_a;
    }
    for (int32_t channel = 0; channel < out_channels; channel += 4, channels += 12) {
        group_sums_t sums = dot_2x4(row_a, row_b, &filter, depth, channels);
        if (ties == MM_NATIVE_MVE_TIES_CLAMPED) {
            __asm__ volatile(MM_REQUANTIZE_PAIR("", ""));
        } else {
            __asm__ volatile(MM_REQUANTIZE_PAIR(MM_NATIVE_MVE_FIX_TIES("%q[a]", "q3"),
                                                MM_NATIVE_MVE_FIX_TIES("%q[b]", "q3")));
        }
    }
}
#undef MM_REQUANTIZE_PAIR

void mm_native_mve_gemm_pair_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                                const int8_t *row_a, const int8_t *row_b, const int8_t *filter,
                                int8_t *out_a, int8_t *out_b)
{
    if (params->output.ties == MM_NATIVE_MVE_TIES_CLAMPED) {
        gemm_pair(params, channels, row_a, row_b, filter, out_a, out_b,
                  MM_NATIVE_MVE_TIES_CLAMPED);
    } else {
        gemm_pair(params, channels, row_a, row_b, filter, out_a, out_b, MM_NATIVE_MVE_TIES_AWAY);
    }
}
