/* SPDX-License-Identifier: Apache-2.0 */
/* Integer arithmetic of TFLM's reference kernels (gemmlowp semantics), as inline functions.
 *
 * Relies on two's complement integers with arithmetic right shifts of negative values, which
 * gcc and every Cortex-M compiler provide (implementation-defined in C99, never undefined).
 */
#ifndef MM_FIXED_POINT_H
#define MM_FIXED_POINT_H

#include <stdint.h>

#include "mm_types.h"

static inline int32_t mm_clamp(int32_t value, int32_t low, int32_t high)
{
    return value < low ? low : (value > high ? high : value);
}

/* round(a * b / 2^31), ties away from zero, saturating the one overflowing case.
 * gemmlowp adds a sign-dependent nudge and truncates toward zero; adding 2^30 and flooring
 * (an arithmetic shift) gives the same integer for every product, in fewer instructions. */
static inline int32_t mm_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero; 0 <= exponent <= 31. */
static inline int32_t mm_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^shift, wrapping like the reference's int32 multiply (shift in [0, 31)). */
static inline int32_t mm_shift_left(int32_t x, int32_t shift)
{
    return (int32_t)((uint32_t)x << shift);
}

/* TFLM's MultiplyByQuantizedMultiplier (double rounding): x * multiplier * 2^(shift - 31). */
static inline int32_t mm_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return mm_rounding_divide_by_pot(mm_doubling_high_mul(mm_shift_left(x, left), multiplier),
                                     right);
}

/* A convolution's int32 accumulator for output channel `channel` -> its int8 output value:
 * requantized with the channel's multiplier and shift, offset by the output zero point and
 * clamped to the fused activation. */
static inline int8_t mm_conv_output_value(const mm_conv_params *params,
                                          const mm_channel_quant *quant, int32_t channel,
                                          int32_t acc)
{
    acc = mm_requantize(acc, quant->multiplier[channel], quant->shift[channel]);
    return (int8_t)mm_clamp(acc + params->output_offset, params->act_min, params->act_max);
}

#endif /* MM_FIXED_POINT_H */
