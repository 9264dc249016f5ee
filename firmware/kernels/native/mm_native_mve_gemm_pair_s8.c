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
                                   int32_t depth, const int32_t *bias) {
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

static MM_ALWAYS_INLINE void gemm_pair(const mm_native_mve_gemm_params *params,
                                       const int32_t *channels, const int8_t *row_a,
                                       const int8_t *row_b, const int8_t *filter, int8_t *out_a,
                                       int8_t *out_b, mm_native_mve_ties ties) {
    const mm_native_mve_output *output = &params->output;
    const int32_t depth = params->depth;
    const int8_t *b = out_b != 0 ? row_b : row_a;
    for (int32_t channel = 0; channel < params->out_channels; channel += 4, channels += 12) {
        const group_sums_t sums = dot_2x4(row_a, b, &filter, depth, channels);
        const int32x4_t multiplier = vldrwq_s32(channels + 4);
        const int32x4_t neg_shift = vldrwq_s32(channels + 8);
        const mve_pred16_t store = vctp32q((uint32_t)(params->out_channels - channel));
        vstrbq_p_s32(out_a + channel,
                     mm_native_mve_requantize(sums.a, multiplier, neg_shift, output, ties), store);
        if (out_b != 0) {
            vstrbq_p_s32(out_b + channel,
                         mm_native_mve_requantize(sums.b, multiplier, neg_shift, output, ties),
                         store);
        }
    }
}

void mm_native_mve_gemm_pair_s8(const mm_native_mve_gemm_params *params, const int32_t *channels,
                                const int8_t *row_a, const int8_t *row_b, const int8_t *filter,
                                int8_t *out_a, int8_t *out_b) {
    if (params->output.ties == MM_NATIVE_MVE_TIES_CLAMPED) {
        gemm_pair(params, channels, row_a, row_b, filter, out_a, out_b,
                  MM_NATIVE_MVE_TIES_CLAMPED);
    } else {
        gemm_pair(params, channels, row_a, row_b, filter, out_a, out_b, MM_NATIVE_MVE_TIES_AWAY);
    }
}
