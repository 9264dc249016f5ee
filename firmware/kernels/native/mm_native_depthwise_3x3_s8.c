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

/* One input column of a window: rows 0 and 1 as a pair, row 2 alone. */
typedef struct {
    int32_t pair;
    int32_t bottom;
} column_t;

/* Which input rows a window row reads, as byte offsets from the image; a row outside the
 * image reads an inside row (through a zero weight). */
typedef struct {
    int32_t offset[3];
    int inside[3];
} window_rows_t;

static window_rows_t window_rows(const mm_native_window *w, int32_t out_y) {
    window_rows_t rows;
    const int32_t row_bytes = w->in_w * w->in_c, y0 = out_y * w->stride_h - w->pad_top;
    for (int32_t k = 0; k < 3; ++k) {
        const int32_t y = y0 + k;
        const int32_t clamped = y < 0 ? 0 : (y >= w->in_h ? w->in_h - 1 : y);
        rows.inside[k] = y == clamped;
        rows.offset[k] = clamped * row_bytes;
    }
    return rows;
}

/* The channel's five filter words with the rows outside the image zeroed, and its bias
 * with their taps' w * input_zero_point added. */
static int32_t mask_rows(const window_rows_t *rows, const int32_t *taps, int32_t bias,
                         int32_t zero_point, int32_t masked[TAP_WORDS]) {
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

/* The window's contribution of column k (0, 1, 2) of the channel's filter words. */
static inline int32_t add_column(int32_t acc, column_t column, const int32_t w[TAP_WORDS],
                                 int32_t k) {
    acc = mm_smlad(column.pair, w[k], acc);
    if (k == 0) {
        return mm_smlabb(column.bottom, w[3], acc);
    }
    if (k == 1) {
        return mm_smlabt(column.bottom, w[3], acc);
    }
    return mm_smlabb(column.bottom, w[4], acc);
}

static inline column_t load_column(const int8_t *top, const window_rows_t *rows) {
    column_t column;
    column.pair = mm_pack_pair(top[rows->offset[0]], top[rows->offset[1]]);
    column.bottom = top[rows->offset[2]];
    return column;
}

/* Column x of channel c's input, or the zero point outside the image. */
static inline column_t column_at(const mm_native_window *w, const int8_t *image,
                                 const window_rows_t *rows, int32_t x, int32_t zero_pair) {
    if (x < 0 || x >= w->in_w) {
        const column_t outside = {zero_pair, w->input_zero_point};
        return outside;
    }
    return load_column(image + x * w->in_c, rows);
}

/* One output row of one channel, channel multiplier 1, horizontal stride 1: every column is
 * loaded once and added to the three windows that hold it. `image` points at the channel's
 * first input value, `out` at its first output value in the row. */
static inline void row_stride_1(const mm_native_window *w, const mm_native_output *output,
                                const mm_native_channel *channel, const int32_t *taps,
                                const window_rows_t *rows, const int8_t *image, int8_t *out,
                                int32_t out_step) {
    int32_t f[TAP_WORDS];
    const int32_t bias = mask_rows(rows, taps, channel->bias, w->input_zero_point, f);
    const int32_t zero_pair = mm_pack_pair(w->input_zero_point, w->input_zero_point);
    const int32_t first = -w->pad_left, out_w = w->out_w;
    /* a: the window of output x, b: of x + 1; column first + x + 2 completes a. */
    int32_t a = add_column(bias, column_at(w, image, rows, first, zero_pair), f, 0);
    int32_t b = bias;
    column_t column = column_at(w, image, rows, first + 1, zero_pair);
    a = add_column(a, column, f, 1);
    b = add_column(b, column, f, 0);
    int32_t x = 0;
    /* Columns inside the image, three outputs per turn so no accumulator is copied. */
    const int32_t inside_end = w->in_w - 2 - first; /* outputs whose last column is inside */
    const int32_t fast_end = inside_end < out_w ? inside_end : out_w;
    const int8_t *top = fast_end >= 3 ? image + (first + 2) * w->in_c : image;
    for (; x + 3 <= fast_end; x += 3) {
        int32_t c;
        column = load_column(top, rows);
        top += w->in_c;
        out[0] = mm_native_requantize(add_column(a, column, f, 2), channel, output);
        b = add_column(b, column, f, 1);
        c = add_column(bias, column, f, 0);
        column = load_column(top, rows);
        top += w->in_c;
        out[out_step] = mm_native_requantize(add_column(b, column, f, 2), channel, output);
        c = add_column(c, column, f, 1);
        a = add_column(bias, column, f, 0);
        column = load_column(top, rows);
        top += w->in_c;
        out[2 * out_step] = mm_native_requantize(add_column(c, column, f, 2), channel, output);
        a = add_column(a, column, f, 1);
        b = add_column(bias, column, f, 0);
        out += 3 * out_step;
    }
    for (; x < out_w; ++x, out += out_step) {
        column = column_at(w, image, rows, first + x + 2, zero_pair);
        *out = mm_native_requantize(add_column(a, column, f, 2), channel, output);
        a = add_column(b, column, f, 1);
        b = add_column(bias, column, f, 0);
    }
}

/* Likewise with horizontal stride 2: two new columns per output, the second shared with the
 * next window. */
static inline void row_stride_2(const mm_native_window *w, const mm_native_output *output,
                                const mm_native_channel *channel, const int32_t *taps,
                                const window_rows_t *rows, const int8_t *image, int8_t *out,
                                int32_t out_step) {
    int32_t f[TAP_WORDS];
    const int32_t bias = mask_rows(rows, taps, channel->bias, w->input_zero_point, f);
    const int32_t zero_pair = mm_pack_pair(w->input_zero_point, w->input_zero_point);
    const int32_t first = -w->pad_left, out_w = w->out_w;
    int32_t a = add_column(bias, column_at(w, image, rows, first, zero_pair), f, 0);
    int32_t x = 0;
    const int32_t inside_end = (w->in_w - 2 - first + 1) / 2; /* 2x + first + 2 < in_w */
    const int32_t fast_end = inside_end < out_w ? inside_end : out_w;
    const int8_t *top = fast_end >= 2 ? image + (first + 1) * w->in_c : image;
    const int32_t step = w->in_c;
    for (; x + 2 <= fast_end; x += 2) {
        int32_t b;
        a = add_column(a, load_column(top, rows), f, 1);
        column_t shared = load_column(top + step, rows);
        out[0] = mm_native_requantize(add_column(a, shared, f, 2), channel, output);
        b = add_column(bias, shared, f, 0);
        b = add_column(b, load_column(top + 2 * step, rows), f, 1);
        shared = load_column(top + 3 * step, rows);
        out[out_step] = mm_native_requantize(add_column(b, shared, f, 2), channel, output);
        a = add_column(bias, shared, f, 0);
        top += 4 * step;
        out += 2 * out_step;
    }
    for (; x < out_w; ++x, out += out_step) {
        const int32_t left = first + 2 * x;
        a = add_column(a, column_at(w, image, rows, left + 1, zero_pair), f, 1);
        const column_t shared = column_at(w, image, rows, left + 2, zero_pair);
        *out = mm_native_requantize(add_column(a, shared, f, 2), channel, output);
        a = add_column(bias, shared, f, 0);
    }
}

/* Channel multiplier above 1: the window's nine values are packed once per input channel and
 * used for each of its output channels. */
static inline void pixel_multiplier(const mm_native_window *w, const mm_native_output *output,
                                    const mm_native_channel *channels, const int32_t *taps,
                                    int32_t multiplier, const int8_t *image, int32_t out_y,
                                    int8_t *out) {
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
                *out = mm_native_requantize(acc, channel, output);
            }
        }
    }
}

static MM_ALWAYS_INLINE void depthwise(const mm_native_output *output, const mm_native_channel *channels,
                             const mm_native_window *w, int32_t multiplier, const int8_t *input,
                             const int32_t *taps, int8_t *out) {
    const int32_t out_c = w->in_c * multiplier, out_row = w->out_w * out_c;
    for (int32_t out_y = 0; out_y < w->out_h; ++out_y, out += out_row) {
        if (multiplier != 1) {
            pixel_multiplier(w, output, channels, taps, multiplier, input, out_y, out);
            continue;
        }
        const window_rows_t rows = window_rows(w, out_y);
        for (int32_t c = 0; c < out_c; ++c) {
            if (w->stride_w == 1) {
                row_stride_1(w, output, &channels[c], taps + TAP_WORDS * c, &rows, input + c,
                             out + c, out_c);
            } else {
                row_stride_2(w, output, &channels[c], taps + TAP_WORDS * c, &rows, input + c,
                             out + c, out_c);
            }
        }
    }
}

void mm_native_depthwise_3x3_s8(const mm_native_output *output,
                                const mm_native_channel *channels, const mm_native_window *window,
                                int32_t depth_multiplier, const int8_t *input,
                                const int32_t *taps, int8_t *out) {
    if (output->mode == MM_NATIVE_OUTPUT_SATURATE) {
        const mm_native_output saturate = {output->act_min, output->act_max,
                                           MM_NATIVE_OUTPUT_SATURATE};
        depthwise(&saturate, channels, window, depth_multiplier, input, taps, out);
    } else {
        const mm_native_output clamp = {output->act_min, output->act_max, MM_NATIVE_OUTPUT_CLAMP};
        depthwise(&clamp, channels, window, depth_multiplier, input, taps, out);
    }
}
