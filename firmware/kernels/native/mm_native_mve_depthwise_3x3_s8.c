/* Depthwise 3x3 convolution on Helium: one gather and one VMLADAVA per output for taps 0-7,
 * a vector multiply for tap 8. See mm_native_mve.h for the per-group words. */
#include "mm_native_mve.h"

enum { GROUP_WORDS = MM_NATIVE_MVE_DEPTHWISE_GROUP_WORDS, TAPS_WORD = 20 };

/* Predicate bits (two per int16 lane; lane t holds tap t = 3 ky + kx) of each window row
 * and column; tap 8 (row 2, column 2) is not in the gather. */
static const uint16_t row_lanes[3] = {0x003Fu, 0x0FC0u, 0xF000u};
static const uint16_t column_lanes[3] = {0x30C3u, 0xC30Cu, 0x0C30u};

/* What stays the same for every window of the layer. */
typedef struct {
    uint16x8_t offsets;     /* of taps 0-7 from the window's first byte */
    int32_t tap8_offset;
    int16x8_t zero_points;  /* the input zero point, for taps outside the image */
    int32x4_t act_min, act_max;
    int32_t output_zero_point;
} layer_t;

/* The int32x4 (s0, s1, s2, s3) in two instructions (the compiler's lane inserts take four);
 * "vmov q[2], q[0], rx, ry" puts rx in lane 0 and ry in lane 2. */
static inline int32x4_t vector_of(int32_t s0, int32_t s1, int32_t s2, int32_t s3) {
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\t"
            "vmov %q0[3], %q0[1], %2, %4"
            : "=&w"(v)
            : "r"(s0), "r"(s1), "r"(s2), "r"(s3));
    return v;
}

/* Bias plus taps 0-7 of the group's channel `lane`, for the window at `origin` (an address
 * that may lie outside the input: only the lanes in `inside` are read, unless all are). */
static MM_ALWAYS_INLINE int32_t tap_sum(const layer_t *layer, const int32_t *group, int32_t lane,
                                        uintptr_t origin, mve_pred16_t inside, int border) {
    const int8_t *base = (const int8_t *)(origin + (uintptr_t)group[16 + lane]);
    int16x8_t values;
    if (!border) {
        values = vldrbq_gather_offset_s16(base, layer->offsets);
    } else {
        values = vldrbq_gather_offset_z_s16(base, layer->offsets, inside);
        values = vpselq_s16(values, layer->zero_points, inside);
    }
    const int8_t *taps = (const int8_t *)(group + TAPS_WORD) + 8 * lane;
    return vmladavaq_s16(group[lane], values, vldrbq_s16(taps));
}

/* One group's four outputs for the window at `origin`. */
static MM_ALWAYS_INLINE int32x4_t group_outputs(const layer_t *layer, mm_native_mve_ties ties,
                                                const int32_t *group, uintptr_t origin,
                                                mve_pred16_t inside, int tap8_inside,
                                                int border) {
    int32x4_t acc = vector_of(tap_sum(layer, group, 0, origin, inside, border),
                              tap_sum(layer, group, 1, origin, inside, border),
                              tap_sum(layer, group, 2, origin, inside, border),
                              tap_sum(layer, group, 3, origin, inside, border));
    int32x4_t tap8;
    if (!border || tap8_inside) {
        const int8_t *base = (const int8_t *)(origin + (uintptr_t)layer->tap8_offset);
        tap8 = vldrbq_gather_offset_s32(base, vreinterpretq_u32_s32(vldrwq_s32(group + 16)));
    } else {
        tap8 = vmovlbq_s16(layer->zero_points);
    }
    acc = vaddq_s32(acc, vmulq_s32(tap8, vldrwq_s32(group + 12)));
    int32x4_t t = vqrdmulhq_s32(acc, vldrwq_s32(group + 4));
    if (ties == MM_NATIVE_MVE_TIES_AWAY) {
        t = vaddq_s32(t, vshrq_n_s32(t, 31));
    }
    const int32x4_t y = vaddq_n_s32(vrshlq_s32(t, vldrwq_s32(group + 8)), layer->output_zero_point);
    return vminq_s32(vmaxq_s32(y, layer->act_min), layer->act_max);
}

/* Every output channel of one pixel; `border` (some tap outside the image) is a constant in
 * each caller. */
static MM_ALWAYS_INLINE void pixel(const layer_t *layer, mm_native_mve_ties ties,
                                   const int32_t *groups, int32_t out_channels, uintptr_t origin,
                                   mve_pred16_t inside, int tap8_inside, int border, int8_t *out) {
    int32_t channel = 0;
    for (; channel + 4 <= out_channels; channel += 4, groups += GROUP_WORDS) {
        vstrbq_s32(out + channel,
                   group_outputs(layer, ties, groups, origin, inside, tap8_inside, border));
    }
    if (channel < out_channels) {
        vstrbq_p_s32(out + channel,
                     group_outputs(layer, ties, groups, origin, inside, tap8_inside, border),
                     vctp32q((uint32_t)(out_channels - channel)));
    }
}

static MM_ALWAYS_INLINE void depthwise(const mm_native_mve_output *output,
                                       mm_native_mve_ties ties, const int32_t *groups,
                                       const mm_native_window *w, int32_t out_channels,
                                       const int8_t *input, int8_t *out) {
    const int32_t in_c = w->in_c, row = w->in_w * in_c;
    uint16_t tap_offsets[8];
    for (int32_t tap = 0; tap < 8; ++tap) {
        tap_offsets[tap] = (uint16_t)((tap / 3) * row + (tap % 3) * in_c);
    }
    const layer_t layer = {vld1q_u16(tap_offsets), 2 * row + 2 * in_c,
                           vdupq_n_s16((int16_t)w->input_zero_point), vdupq_n_s32(output->act_min),
                           vdupq_n_s32(output->act_max), output->zero_point};
    /* Output columns whose windows are inside the image horizontally: [first, end). */
    const int32_t first = (w->pad_left + w->stride_w - 1) / w->stride_w;
    const int32_t last_x = w->in_w - 3 + w->pad_left; /* the largest x0 + pad_left inside */
    const int32_t end = last_x < 0 ? 0 : last_x / w->stride_w + 1;
    for (int32_t out_y = 0; out_y < w->out_h; ++out_y) {
        const int32_t y0 = out_y * w->stride_h - w->pad_top;
        mve_pred16_t row_inside = 0xFFFFu;
        int row_tap8 = 1;
        for (int32_t k = 0; k < 3; ++k) {
            if (y0 + k < 0 || y0 + k >= w->in_h) {
                row_inside &= (mve_pred16_t)~row_lanes[k];
                row_tap8 &= k != 2;
            }
        }
        const int rows_inside = row_inside == 0xFFFFu;
        uintptr_t origin = (uintptr_t)input + (uintptr_t)((y0 * w->in_w - w->pad_left) * in_c);
        for (int32_t out_x = 0; out_x < w->out_w;
             ++out_x, out += out_channels, origin += (uintptr_t)(w->stride_w * in_c)) {
            if (rows_inside && out_x >= first && out_x < end) {
                pixel(&layer, ties, groups, out_channels, origin, 0xFFFFu, 1, 0, out);
                continue;
            }
            const int32_t x0 = out_x * w->stride_w - w->pad_left;
            mve_pred16_t inside = row_inside;
            int tap8 = row_tap8;
            for (int32_t k = 0; k < 3; ++k) {
                if (x0 + k < 0 || x0 + k >= w->in_w) {
                    inside &= (mve_pred16_t)~column_lanes[k];
                    tap8 &= k != 2;
                }
            }
            pixel(&layer, ties, groups, out_channels, origin, inside, tap8, 1, out);
        }
    }
}

void mm_native_mve_depthwise_3x3_s8(const mm_native_mve_output *output, const int32_t *groups,
                                    const mm_native_window *window, int32_t out_channels,
                                    const int8_t *input, int8_t *out) {
    if (output->ties == MM_NATIVE_MVE_TIES_CLAMPED) {
        depthwise(output, MM_NATIVE_MVE_TIES_CLAMPED, groups, window, out_channels, input, out);
    } else {
        depthwise(output, MM_NATIVE_MVE_TIES_AWAY, groups, window, out_channels, input, out);
    }
}
