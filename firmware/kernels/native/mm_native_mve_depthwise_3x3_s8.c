/* SPDX-License-Identifier: Apache-2.0 */
/* Depthwise 3x3 convolution on Helium: one gather and one VMLADAVA per output for taps 0-7,
 * one more gather and a vector multiply per four outputs for tap 8. See mm_native_mve.h for
 * the per-group words. */
#include "mm_native_mve.h"

/* Predicate bits (two per int16 lane; lane t holds tap t = 3 ky + kx) of each window row
 * and column; tap 8 (row 2, column 2) is not in the gather. */
static const uint16_t row_lanes[3] = {0x003Fu, 0x0FC0u, 0xF000u};
static const uint16_t column_lanes[3] = {0x30C3u, 0xC30Cu, 0x0C30u};

/* What stays the same for every window of the layer. */
typedef struct {
    uint16x8_t offsets;    /* of taps 0-7 from the window's first byte */
    int16x8_t zero_points; /* the input zero point, for taps outside the image */
    int32x4_t output_zero_points;
    int32x4_t act_min, act_max;
    int32_t output_zero_point;
    int32_t step; /* bytes from one window to the next along a row */
} layer_t;

/* The assembly of one group of four output channels, in pieces. The group pointer g has
 * passed the biases (LDM into the four even registers VMLADAVA accumulates in); from there
 * the multipliers are at +0, the negated shifts at +16, tap 8's filter at +32, the input
 * channels at +48, tap 8's gather offsets at +64 and each channel's taps 0-7 at +80, +88,
 * +96, +104. */
#define DW_BIASES "ldm %[g]!, {%[s0], %[s1], %[s2], %[s3]}\n\t"
#define DW_GATHER "vldrb.s16 q0, [%[t], %q[offsets]]\n\t"
/* Lanes outside the image (P0 clear) are not read and become the zero point. */
/* clang-format off */
#define DW_GATHER_INSIDE                                                                       \
    "vpst\n\t"                                                                                 \
    "vldrbt.s16 q0, [%[t], %q[offsets]]\n\t"                                                   \
    "vpsel q0, q0, %q[zero_points]\n\t"
/* clang-format on */
/* clang-format off */
#define DW_CHANNEL(gather, sum, channel, taps)                                                 \
    "ldr %[t], [%[g], #" channel "]\n\t"                                                       \
    "add %[t], %[origin]\n\t" gather "vldrb.s16 q1, [%[g], #" taps "]\n\t"                     \
    "vmladava.s16 %[" sum "], q0, q1\n\t"
/* clang-format on */
/* clang-format off */
#define DW_CHANNELS(gather)                                                                    \
    DW_CHANNEL(gather, "s0", "48", "80")                                                       \
    DW_CHANNEL(gather, "s1", "52", "88")                                                       \
    DW_CHANNEL(gather, "s2", "56", "96")                                                       \
    DW_CHANNEL(gather, "s3", "60", "104")                                                      \
    "vmov q2[2], q2[0], %[s0], %[s2]\n\t" /* rx to lane 0, ry to lane 2 */                     \
    "vmov q2[3], q2[1], %[s1], %[s3]\n\t"                                                      \
    "vldrw.u32 q3, [%[g], #64]\n\t"
/* clang-format on */
#define DW_TAP8 "vldrb.s32 q0, [%[origin], q3]\n\t"
/* Tap 8 outside the image (P0 clear) reads the zero point. */
/* clang-format off */
#define DW_TAP8_INSIDE                                                                         \
    "vmsr p0, %[tap8_lanes]\n\t"                                                               \
    "vpst\n\t"                                                                                 \
    "vldrbt.s32 q0, [%[origin], q3]\n\t"                                                       \
    "vmovlb.s16 q3, %q[zero_points]\n\t"                                                       \
    "vpsel q0, q0, q3\n\t"
/* clang-format on */
/* Tap 8's products added, requantized, stored (the last group's under a VCTP predicate). */
/* clang-format off */
#define DW_REQUANTIZE(zero_point, fix_ties)                                                    \
    "vldrw.u32 q1, [%[g], #32]\n\t"                                                            \
    "vmul.i32 q0, q0, q1\n\t"                                                                  \
    "vadd.i32 q2, q2, q0\n\t"                                                                  \
    "vldrw.u32 q1, [%[g]]\n\t"                                                                 \
    "vldrw.u32 q3, [%[g], #16]\n\t"                                                            \
    MM_NATIVE_MVE_REQUANTIZE("q2", "q1", "q3", zero_point, fix_ties)                           \
    "vctp.32 %[count]\n\t"                                                                     \
    "vpst\n\t"                                                                                 \
    "vstrbt.32 q2, [%[out]], #4\n\t"                                                           \
    "adds %[g], #112\n\t"                                                                      \
    "subs %[count], #4\n\t"                                                                    \
    "bgt 1b\n\t"
/* clang-format on */
#define DW_TIES_AWAY MM_NATIVE_MVE_FIX_TIES("q2", "q0")
/* Windows inside the image, `pixels` of them along a row: the groups of each in turn. The
 * last group of a pixel leaves `out` 4 - (out_channels mod 4) bytes too far, or 0, which is
 * minus `count` then. */
/* clang-format off */
#define DW_RUN(fix_ties)                                                                       \
    "2:\n\t"                                                                                   \
    "mov %[g], %[groups]\n\t"                                                                  \
    "mov %[count], %[channels]\n"                                                              \
    "1:\n\t" DW_BIASES DW_CHANNELS(DW_GATHER) DW_TAP8                                          \
        DW_REQUANTIZE("%q[output_zero_points]", fix_ties)                                      \
    "add %[out], %[count]\n\t"                                                                 \
    "add %[origin], %[step]\n\t"                                                               \
    "subs %[pixels], #1\n\t"                                                                   \
    "bgt 2b"                                                                                   \
    : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [t] "=&r"(t),            \
      [g] "=&l"(g), [count] "=&r"(count), [out] "+l"(out), [origin] "+r"(origin),              \
      [pixels] "+r"(pixels)                                                                    \
    : [groups] "r"(groups), [channels] "r"(out_channels), [step] "r"(layer->step),             \
      [offsets] "w"(layer->offsets), [output_zero_points] "w"(layer->output_zero_points),      \
      [act_min] "w"(layer->act_min), [act_max] "w"(layer->act_max)                              \
    : "q0", "q1", "q2", "q3", "memory", "cc"
/* clang-format on */
/* One window with some taps outside the image: only the taps whose predicate bits are set in
 * `lanes` (and tap 8 when `tap8_lanes` is all ones) are read, the others are the zero point;
 * `origin` may then lie outside the input. */
/* clang-format off */
#define DW_BORDER(fix_ties)                                                                    \
    "1:\n\t"                                                                                   \
    "vmsr p0, %[lanes]\n\t" DW_BIASES DW_CHANNELS(DW_GATHER_INSIDE) DW_TAP8_INSIDE              \
        DW_REQUANTIZE("%[zero_point]", fix_ties)                                               \
    : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [t] "=&r"(t),            \
      [g] "+l"(groups), [count] "+r"(count), [out] "+l"(out)                                   \
    : [origin] "r"(origin), [offsets] "w"(layer->offsets),                                     \
      [zero_points] "w"(layer->zero_points), [act_min] "w"(layer->act_min),                    \
      [act_max] "w"(layer->act_max), [zero_point] "r"(layer->output_zero_point),               \
      [lanes] "r"(lanes), [tap8_lanes] "r"(tap8_lanes)                                         \
    : "q0", "q1", "q2", "q3", "memory", "cc"
/* clang-format on */

/* The sums accumulate in r8, r10, r12 and lr: even registers, as VMLADAVA needs, that leave
 * the low registers to the narrowing loads and stores. */
/* clang-format off */
#define DW_SUMS                                                                                \
    register int32_t s0 __asm__("r8");                                                         \
    register int32_t s1 __asm__("r10");                                                        \
    register int32_t s2 __asm__("r12");                                                        \
    register int32_t s3 __asm__("lr");                                                         \
    int32_t t
/* clang-format on */

/* `pixels` (>= 1) consecutive windows of a row, all inside the image; returns the next
 * output. `ties` is a constant in every caller. */
static MM_ALWAYS_INLINE int8_t *run_inside(const layer_t *layer, mm_native_mve_ties ties,
                                           const int32_t *groups, int32_t out_channels,
                                           uintptr_t origin, int32_t pixels, int8_t *out)
{
    DW_SUMS;
    const int32_t *g;
    int32_t count;
    if (ties == MM_NATIVE_MVE_TIES_CLAMPED) {
        __asm__ volatile(DW_RUN(""));
    } else {
        __asm__ volatile(DW_RUN(DW_TIES_AWAY));
    }
    return out;
}

/* One window that reaches outside the image. */
static MM_ALWAYS_INLINE void border_pixel(const layer_t *layer, mm_native_mve_ties ties,
                                          const int32_t *groups, int32_t count, uintptr_t origin,
                                          uint32_t lanes, uint32_t tap8_lanes, int8_t *out)
{
    DW_SUMS;
    if (ties == MM_NATIVE_MVE_TIES_CLAMPED) {
        __asm__ volatile(DW_BORDER(""));
    } else {
        __asm__ volatile(DW_BORDER(DW_TIES_AWAY));
    }
}

static MM_ALWAYS_INLINE void depthwise(const mm_native_mve_output *output,
                                       mm_native_mve_ties ties, const int32_t *groups,
                                       const mm_native_window *w, int32_t out_channels,
                                       const int8_t *input, int8_t *out)
{
    const int32_t in_c = w->in_c, row = w->in_w * in_c;
    uint16_t tap_offsets[8];
    for (int32_t tap = 0; tap < 8; ++tap) {
        tap_offsets[tap] = (uint16_t)((tap / 3) * row + (tap % 3) * in_c);
    }
    const layer_t layer = {
        vld1q_u16(tap_offsets),
        vdupq_n_s16((int16_t)w->input_zero_point),
        vdupq_n_s32(output->zero_point),
        vdupq_n_s32(output->act_min),
        vdupq_n_s32(output->act_max),
        output->zero_point,
        w->stride_w * in_c,
    };
    /* Output columns whose windows are inside the image horizontally: [first, end). */
    const int32_t first = (w->pad_left + w->stride_w - 1) / w->stride_w;
    const int32_t last_x = w->in_w - 3 + w->pad_left; /* the largest x0 + pad_left inside */
    const int32_t end = last_x < 0 ? 0 : last_x / w->stride_w + 1;
    for (int32_t out_y = 0; out_y < w->out_h; ++out_y) {
        const int32_t y0 = out_y * w->stride_h - w->pad_top;
        uint32_t row_inside = 0xFFFFu, row_tap8 = 0xFFFFu;
        for (int32_t k = 0; k < 3; ++k) {
            if (y0 + k < 0 || y0 + k >= w->in_h) {
                row_inside &= ~(uint32_t)row_lanes[k];
                row_tap8 = k == 2 ? 0u : row_tap8;
            }
        }
        const int rows_inside = row_inside == 0xFFFFu && row_tap8 != 0u;
        /* Addresses, not pointers: a window's first byte may lie before the input. */
        uintptr_t origin = (uintptr_t)input + (uintptr_t)((y0 * w->in_w - w->pad_left) * in_c);
        for (int32_t out_x = 0; out_x < w->out_w;) {
            if (rows_inside && out_x >= first && out_x < end) {
                out = run_inside(&layer, ties, groups, out_channels, origin, end - out_x, out);
                origin += (uintptr_t)((end - out_x) * layer.step);
                out_x = end;
                continue;
            }
            const int32_t x0 = out_x * w->stride_w - w->pad_left;
            uint32_t inside = row_inside, tap8 = row_tap8;
            for (int32_t k = 0; k < 3; ++k) {
                if (x0 + k < 0 || x0 + k >= w->in_w) {
                    inside &= ~(uint32_t)column_lanes[k];
                    tap8 = k == 2 ? 0u : tap8;
                }
            }
            border_pixel(&layer, ties, groups, out_channels, origin, inside, tap8, out);
            ++out_x;
            out += out_channels;
            origin += (uintptr_t)layer.step;
        }
    }
}

void mm_native_mve_depthwise_3x3_s8(const mm_native_mve_output *output, const int32_t *groups,
                                    const mm_native_window *window, int32_t out_channels,
                                    const int8_t *input, int8_t *out)
{
    if (output->ties == MM_NATIVE_MVE_TIES_CLAMPED) {
        depthwise(output, MM_NATIVE_MVE_TIES_CLAMPED, groups, window, out_channels, input, out);
    } else {
        depthwise(output, MM_NATIVE_MVE_TIES_AWAY, groups, window, out_channels, input, out);
    }
}
