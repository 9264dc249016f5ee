/* SPDX-License-Identifier: Apache-2.0 */
/* Softmax, int8. See mm_softmax.h.
 *
 * Fixed-point values are int32 with a stated number of integer bits: "Qn" holds
 * raw / 2^(31 - n). Multiplying Qa by Qb gives Q(a+b) via mm_doubling_high_mul.
 */
#include "mm_softmax.h"

#include "mm_fixed_point.h"

enum {
    SCALED_DIFF_INTEGER_BITS = 5,  /* exp() input: Q5 */
    ACCUMULATION_INTEGER_BITS = 12 /* sum of exponentials: Q12 */
};

static int32_t wrapping_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* x * 2^exponent, saturating (exponent > 0). */
static int32_t saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return mm_shift_left(x, exponent);
}

/* exp(a) for a in [-1/4, 0), Q0 in and out: a Taylor expansion around -1/8. */
static int32_t exp_on_small_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0 */
    const int32_t x = a + (1 << 28);                 /* a + 1/8 */
    const int32_t x2 = mm_doubling_high_mul(x, x);
    const int32_t x3 = mm_doubling_high_mul(x2, x);
    const int32_t x4 = mm_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = mm_rounding_divide_by_pot(x4, 2);
    const int32_t series = mm_rounding_divide_by_pot(
        wrapping_add(mm_doubling_high_mul(wrapping_add(x4_over_4, x3), one_third), x2), 1);
    return wrapping_add(exp_minus_one_eighth,
                        mm_doubling_high_mul(exp_minus_one_eighth, wrapping_add(x, series)));
}

/* exp(a) for a <= 0, a in Q5, result in Q0: exp of a modulo 1/4 on the small interval, then
 * multiplied by exp(-2^k) for each bit k of the remaining multiple of 1/4. */
static int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t exp_of_minus_power_of_two[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int32_t fractional_bits = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = exp_on_small_interval(
        saturating_shift_left(a_mod_quarter_minus_quarter, SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int32_t k = 0; k < 7; ++k) {
        if (remainder & (1 << (fractional_bits - 2 + k))) {
            result = mm_doubling_high_mul(result, exp_of_minus_power_of_two[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0 in and out, by Newton-Raphson on the half denominator. */
static int32_t one_over_one_plus_x(int32_t x)
{
    const int64_t sum = (int64_t)x + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* Q0 */
    const int32_t forty_eight_over_17 = 1515870810;                              /* Q2 */
    const int32_t minus_thirty_two_over_17 = -1010580540;                        /* Q2 */
    int32_t estimate = wrapping_add(
        forty_eight_over_17, mm_doubling_high_mul(half_denominator, minus_thirty_two_over_17));
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t product = mm_doubling_high_mul(half_denominator, estimate); /* Q2 */
        const int32_t error = (1 << 29) - product;                                /* 1 - product */
        estimate = wrapping_add(
            estimate, saturating_shift_left(mm_doubling_high_mul(estimate, error), 2));
    }
    /* estimate / 2 in Q1 has the same raw bits as estimate in Q2; bring Q1 to Q0. */
    return saturating_shift_left(estimate, 1);
}

static int32_t count_leading_zeros(uint32_t value)
{
    int32_t count = 0;
    if (value == 0) {
        return 32;
    }
    while (!(value & 0x80000000u)) {
        value <<= 1;
        ++count;
    }
    return count;
}

/* Q12 sum -> its reciprocal scaled into [1/2, 1) in Q0, and the power of two it dropped.
 * A sum of 0 (the int32 sum wrapped around, 8192 tied maxima) has 32 leading zeros: shifting
 * it by 32 is undefined in C, and any shift of 0 is 0, which is what TFLM computes. */
static int32_t reciprocal(int32_t sum, int32_t *bits_over_unit)
{
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum);
    *bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
    const uint32_t shifted = headroom_plus_one < 32 ? (uint32_t)sum << headroom_plus_one : 0u;
    const int32_t shifted_minus_one = (int32_t)(shifted - ((uint32_t)1 << 31));
    return one_over_one_plus_x(shifted_minus_one);
}

static int32_t scaled_difference(const mm_softmax_params *params, int32_t diff)
{
    return mm_doubling_high_mul(mm_shift_left(diff, params->input_left_shift),
                                params->input_multiplier);
}

void mm_softmax_s8(const mm_softmax_params *params, int32_t rows, int32_t depth,
                   const int8_t *input, int8_t *output)
{
    for (int32_t row = 0; row < rows; ++row, input += depth, output += depth) {
        int32_t max = -128;
        for (int32_t c = 0; c < depth; ++c) {
            max = input[c] > max ? input[c] : max;
        }
        int32_t sum = 0; /* Q12 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = input[c] - max;
            if (diff >= params->diff_min) {
                const int32_t e = exp_on_negative_values(scaled_difference(params, diff));
                sum = wrapping_add(sum, mm_rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS));
            }
        }
        int32_t bits_over_unit;
        const int32_t scale = reciprocal(sum, &bits_over_unit);
        const int32_t exponent = bits_over_unit + 31 - 8;
        /* Once the sum of exponentials reaches 512 (about 512 tied maxima) the exponent
         * passes 31: every probability is then at most 1/512, and scale * e (below 2^31)
         * divided by 2^exponent rounds to 0. A shift of 32 or more is undefined in C
         * (gemmlowp asserts there, so TFLM aborts), so that value is written out. */
        const int32_t representable = exponent <= 31;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = input[c] - max;
            int32_t value = -128;
            if (diff >= params->diff_min && representable) {
                const int32_t e = exp_on_negative_values(scaled_difference(params, diff));
                value = mm_clamp(
                    mm_rounding_divide_by_pot(mm_doubling_high_mul(scale, e), exponent) - 128,
                    -128, 127);
            }
            output[c] = (int8_t)value;
        }
    }
}
