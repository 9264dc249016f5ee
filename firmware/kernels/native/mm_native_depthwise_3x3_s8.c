/* SPDX-License-Identifier: Apache-2.0 */
/* Depthwise 3x3 convolution on pairs of taps. See mm_native.h for the filter words.
 *
 * A window's nine taps are multiplied as four pairs and one single: (row 0, row 1) of each of
 * the three columns against the filter pairs (2 w[0][k], 2 w[1][k]), and row 2's three taps
 * against (2 w[2][0], 2 w[2][1]) and (2 w[2][2], 0).
 *
 * Padding: a tap outside the image contributes w * input_zero_point to the folded sum
 * (mm_native.h). Columns outside the image read the zero point itself; rows outside the image
 * get zero weights for the row, their w * input_zero_point added to the bias once per row.
 */
#include "mm_native.h"

enum { TAP_WORDS = 5 };

/* The input rows of one output row's windows: `top` is the byte offset of the row the
 * window's first row reads, and rows 1 and 2 are read `second` and `third` bytes after it.
 * A window row outside the image reads an inside row through zero weights. */
typedef struct {
    int32_t top;
    int32_t second;
    int32_t third;
    int inside[3];
} window_rows_t;

static window_rows_t window_rows(const mm_native_window *w, int32_t out_y)
{
    window_rows_t rows;
    int32_t offset[3];
    const int32_t row_bytes = w->in_w * w->in_c, y0 = out_y * w->stride_h - w->pad_top;
    for (int32_t k = 0; k < 3; ++k) {
        const int32_t y = y0 + k;
        const int32_t clamped = y < 0 ? 0 : (y >= w->in_h ? w->in_h - 1 : y);
        rows.inside[k] = y == clamped;
        offset[k] = clamped * row_bytes;
    }
    rows.top = offset[0];
    rows.second = offset[1] - offset[0];
    rows.third = offset[2] - offset[0];
    return rows;
}

/* The channel's five filter words with the rows outside the image zeroed, and its bias
 * with their taps' w * input_zero_point added. */
static int32_t mask_rows(const window_rows_t *rows, const int32_t *taps, int32_t bias,
                         int32_t zero_point, int32_t masked[TAP_WORDS])
{
    int32_t outside_sum = 0;
    for (int32_t i = 0; i < TAP_WORDS; ++i) {
        masked[i] = taps[i];
    }
    if (!rows->inside[0]) {
        for (int32_t k = 0; k < 3; ++k) {
            outside_sum += (int16_t)(masked[k] & 0xFFFF);
            masked[k] = (int32_t)((uint32_t)masked[k] & 0xFFFF0000u);
        }
    }
    if (!rows->inside[1]) {
        for (int32_t k = 0; k < 3; ++k) {
            outside_sum += (int16_t)((uint32_t)masked[k] >> 16);
            masked[k] = (int32_t)((uint32_t)masked[k] & 0xFFFFu);
        }
    }
    if (!rows->inside[2]) {
        outside_sum += (int16_t)(masked[3] & 0xFFFF) + (int16_t)((uint32_t)masked[3] >> 16) +
                       (int16_t)(masked[4] & 0xFFFF);
        masked[3] = masked[4] = 0;
    }
    return bias + outside_sum * zero_point;
}

/* One channel's constants for a row, held in locals so the loops keep them in registers. */
typedef struct {
    int32_t w0, w1, w2, w3, w4; /* the five filter words, rows outside the image zeroed */
    int32_t bias;
    int32_t multiplier, rounding, shift;
} channel_row_t;

static MM_ALWAYS_INLINE channel_row_t channel_row(const window_rows_t *rows,
                                                  const mm_native_channel *channel,
                                                  const int32_t *taps, int32_t zero_point)
{
    channel_row_t k;
    int32_t f[TAP_WORDS];
    const int all_inside = rows->inside[0] && rows->inside[1] && rows->inside[2];
    k.bias = all_inside ? channel->bias : mask_rows(rows, taps, channel->bias, zero_point, f);
    const int32_t *words = all_inside ? taps : f;
    k.w0 = words[0];
    k.w1 = words[1];
    k.w2 = words[2];
    k.w3 = words[3];
    k.w4 = words[4];
    k.multiplier = channel->multiplier;
    k.rounding = channel->rounding;
    k.shift = channel->shift;
    return k;
}

static MM_ALWAYS_INLINE int8_t finish(int32_t acc, const channel_row_t *k,
                                      const mm_native_output *output,
                                      mm_native_output_mode mode)
{
    int32_t value = mm_smmlar(acc, k->multiplier, k->rounding);
    if (mode == MM_NATIVE_OUTPUT_SATURATE) {
        return (int8_t)mm_ssat8(value >> k->shift);
    }
    value = (value + (acc >> 31)) >> k->shift;
    value = value < output->act_min ? output->act_min : value;
    return (int8_t)(value > output->act_max ? output->act_max : value);
}

/* One input column of a window: rows 0 and 1 as a pair, row 2 alone. */
typedef struct {
    int32_t pair;
    int32_t bottom;
} column_t;

static MM_ALWAYS_INLINE column_t load_column(const int8_t *top, int32_t second, int32_t third)
{
    column_t column;
    column.pair = mm_pack_pair(top[0], top[second]);
    column.bottom = top[third];
    return column;
}

/* Column x of the channel (`image` points at its value in the window's first row), or the
 * zero point outside the image. */
static MM_ALWAYS_INLINE column_t column_at(const mm_native_window *w, const int8_t *image,
                                           const window_rows_t *rows, int32_t x,
                                           int32_t zero_pair)
{
    if (x < 0 || x >= w->in_w) {
        const column_t outside = {zero_pair, w->input_zero_point};
        return outside;
    }
    return load_column(image + x * w->in_c, rows->second, rows->third);
}

/* The window's sum with column k (0, 1, 2) of the filter added. */
static MM_ALWAYS_INLINE int32_t add0(int32_t acc, column_t c, const channel_row_t *k)
{
    return mm_smlabb(c.bottom, k->w3, mm_smlad(c.pair, k->w0, acc));
}

static MM_ALWAYS_INLINE int32_t add1(int32_t acc, column_t c, const channel_row_t *k)
{
    return mm_smlabt(c.bottom, k->w3, mm_smlad(c.pair, k->w1, acc));
}

static MM_ALWAYS_INLINE int32_t add2(int32_t acc, column_t c, const channel_row_t *k)
{
    return mm_smlabb(c.bottom, k->w4, mm_smlad(c.pair, k->w2, acc));
}

/* One output row of one channel, channel multiplier 1, horizontal stride 1: every column is
 * loaded once and added to the three windows that hold it. `image` points at the channel's
 * value in the window's first input row, `out` at its first output value in the row. */
static MM_ALWAYS_INLINE void row_stride_1(const mm_native_window *w,
                                          const mm_native_output *output,
                                          mm_native_output_mode mode, const channel_row_t *k,
                                          const window_rows_t *rows, const int8_t *image,
                                          int8_t *out, int32_t out_step)
{
    const int32_t zero_pair = mm_pack_pair(w->input_zero_point, w->input_zero_point);
    const int32_t first = -w->pad_left, out_w = w->out_w, step = w->in_c;
    const int32_t second = rows->second, third = rows->third;
    /* a: the window of output x, b: of x + 1; column first + x + 2 completes a. */
    int32_t a = add0(k->bias, column_at(w, image, rows, first, zero_pair), k);
    column_t column = column_at(w, image, rows, first + 1, zero_pair);
    a = add1(a, column, k);
    int32_t b = add0(k->bias, column, k);
    int32_t x = 0;
    const int32_t inside_end = w->in_w - 2 - first; /* outputs whose last column is inside */
    const int32_t fast_end = inside_end < out_w ? inside_end : out_w;
    if (fast_end >= 3) {
        /* Columns inside the image, three outputs per turn so no accumulator is copied. */
        const int8_t *top = image + (first + 2) * step;
        for (; x + 3 <= fast_end; x += 3) {
            int32_t c;
            column = load_column(top, second, third);
            out[0] = finish(add2(a, column, k), k, output, mode);
            b = add1(b, column, k);
            c = add0(k->bias, column, k);
            column = load_column(top + step, second, third);
            out[out_step] = finish(add2(b, column, k), k, output, mode);
            c = add1(c, column, k);
            a = add0(k->bias, column, k);
            column = load_column(top + 2 * step, second, third);
            out[2 * out_step] = finish(add2(c, column, k), k, output, mode);
            a = add1(a, column, k);
            b = add0(k->bias, column, k);
            top += 3 * step;
            out += 3 * out_step;
        }
    }
    for (; x < out_w; ++x, out += out_step) {
        column = column_at(w, image, rows, first + x + 2, zero_pair);
        *out = finish(add2(a, column, k), k, output, mode);
        a = add1(b, column, k);
        b = add0(k->bias, column, k);
    }
}

/* Likewise with horizontal stride 2: two new columns per output, the second shared with the
 * next window. */
static MM_ALWAYS_INLINE void row_stride_2(const mm_native_window *w,
                                          const mm_native_output *output,
                                          mm_native_output_mode mode, const channel_row_t *k,
                                          const window_rows_t *rows, const int8_t *image,
                                          int8_t *out, int32_t out_step)
{
    const int32_t zero_pair = mm_pack_pair(w->input_zero_point, w->input_zero_point);
    const int32_t first = -w->pad_left, out_w = w->out_w, step = w->in_c;
    const int32_t second = rows->second, third = rows->third;
    int32_t a = add0(k->bias, column_at(w, image, rows, first, zero_pair), k);
    int32_t x = 0;
    const int32_t inside_end = (w->in_w - 2 - first + 1) / 2; /* 2x + first + 2 < in_w */
    const int32_t fast_end = inside_end < out_w ? inside_end : out_w;
    if (fast_end >= 2) {
        const int8_t *top = image + (first + 1) * step;
        for (; x + 2 <= fast_end; x += 2) {
            int32_t b;
            a = add1(a, load_column(top, second, third), k);
            column_t shared = load_column(top + step, second, third);
            out[0] = finish(add2(a, shared, k), k, output, mode);
            b = add0(k->bias, shared, k);
            b = add1(b, load_column(top + 2 * step, second, third), k);
            shared = load_column(top + 3 * step, second, third);
            out[out_step] = finish(add2(b, shared, k), k, output, mode);
            a = add0(k->bias, shared, k);
            top += 4 * step;
            out += 2 * out_step;
        }
    }
    for (; x < out_w; ++x, out += out_step) {
        const int32_t left = first + 2 * x;
        a = add1(a, column_at(w, image, rows, left + 1, zero_pair), k);
        const column_t shared = column_at(w, image, rows, left + 2, zero_pair);
        *out = finish(add2(a, shared, k), k, output, mode);
        a = add0(k->bias, shared, k);
    }
}

/* Channel multiplier above 1: the window's nine values are packed once per input channel and
 * used for each of its output channels. */
static MM_ALWAYS_INLINE void pixel_multiplier(const mm_native_window *w,
                                              const mm_native_output *output,
                                              mm_native_output_mode mode,
                                              const mm_native_channel *channels,
                                              const int32_t *taps, int32_t multiplier,
                                              const int8_t *image, int32_t out_y, int8_t *out)
{
    const int32_t in_c = w->in_c, zero = w->input_zero_point, row = w->in_w * in_c;
    const int32_t y0 = out_y * w->stride_h - w->pad_top;
    for (int32_t out_x = 0; out_x < w->out_w; ++out_x) {
        const int32_t x0 = out_x * w->stride_w - w->pad_left;
        const int inside = y0 >= 0 && x0 >= 0 && y0 + 2 < w->in_h && x0 + 2 < w->in_w;
        for (int32_t c = 0; c < in_c; ++c) {
            int32_t v[9];
            if (inside) {
                const int8_t *window = image + (y0 * w->in_w + x0) * in_c + c;
                for (int32_t tap = 0; tap < 9; ++tap) {
                    v[tap] = window[(tap / 3) * row + (tap % 3) * in_c];
                }
            } else {
                for (int32_t tap = 0; tap < 9; ++tap) {
                    const int32_t y = y0 + tap / 3, x = x0 + tap % 3;
                    const int in_image = y >= 0 && y < w->in_h && x >= 0 && x < w->in_w;
                    v[tap] = in_image ? image[y * row + x * in_c + c] : zero;
                }
            }
            const int32_t p0 = mm_pack_pair(v[0], v[3]), p1 = mm_pack_pair(v[1], v[4]);
            const int32_t p2 = mm_pack_pair(v[2], v[5]), p3 = mm_pack_pair(v[6], v[7]);
            const int32_t last = v[8];
            const int32_t *f = taps + TAP_WORDS * c * multiplier;
            const mm_native_channel *channel = channels + c * multiplier;
            for (int32_t m = 0; m < multiplier; ++m, f += TAP_WORDS, ++channel, ++out) {
                int32_t acc = mm_smlad(p0, f[0], channel->bias);
                acc = mm_smlad(p1, f[1], acc);
                acc = mm_smlad(p2, f[2], acc);
                acc = mm_smlad(p3, f[3], acc);
                acc = mm_smlabb(last, f[4], acc);
                const channel_row_t k = {0, 0, 0, 0, 0, 0, channel->multiplier,
                                         channel->rounding, channel->shift};
                *out = finish(acc, &k, output, mode);
            }
        }
    }
}

static MM_ALWAYS_INLINE void depthwise(const mm_native_output *output,
                                       mm_native_output_mode mode,
                                       const mm_native_channel *channels,
                                       const mm_native_window *w, int32_t multiplier,
                                       const int8_t *input, const int32_t *taps, int8_t *out)
{
    const int32_t out_c = w->in_c * multiplier, out_row = w->out_w * out_c;
    for (int32_t out_y = 0; out_y < w->out_h; ++out_y, out += out_row) {
        if (multiplier != 1) {
            pixel_multiplier(w, output, mode, channels, taps, multiplier, input, out_y, out);
            continue;
        }
        const window_rows_t rows = window_rows(w, out_y);
        const int8_t *image = input + rows.top;
        for (int32_t c = 0; c < out_c; ++c) {
            const channel_row_t k =
                channel_row(&rows, &channels[c], taps + TAP_WORDS * c, w->input_zero_point);
            if (w->stride_w == 1) {
                row_stride_1(w, output, mode, &k, &rows, image + c, out + c, out_c);
            } else {
                row_stride_2(w, output, mode, &k, &rows, image + c, out + c, out_c);
            }
        }
    }
}

void mm_native_depthwise_3x3_s8(const mm_native_output *output,
                                const mm_native_channel *channels, const mm_native_window *window,
                                int32_t depth_multiplier, const int8_t *input,
                                const int32_t *taps, int8_t *out)
{
    if (output->mode == MM_NATIVE_OUTPUT_SATURATE) {
        depthwise(output, MM_NATIVE_OUTPUT_SATURATE, channels, window, depth_multiplier, input,
                  taps, out);
    } else {
        depthwise(output, MM_NATIVE_OUTPUT_CLAMP, channels, window, depth_multiplier, input, taps,
                  out);
    }
}
