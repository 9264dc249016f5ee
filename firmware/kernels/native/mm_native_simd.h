/* SPDX-License-Identifier: Apache-2.0 */
/* The few Armv7E-M DSP instructions the native kernels are written with, as inline functions.
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33, M55) each function
 * is one instruction, from the compiler's arm_acle.h or, where ACLE has no intrinsic (SXTB16
 * with a rotation, PKHBT, SMMLAR), a one-line inline assembly statement. Everywhere else (the
 * host, Cortex-M0/M3) the same functions are plain C with the instructions' exact results, so
 * the kernels build and give the same bytes on every target.
 *
 * A "pair" is a 32-bit word holding two int16 lanes: bits 0-15 (bottom) and 16-31 (top).
 */
#ifndef MM_NATIVE_SIMD_H
#define MM_NATIVE_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
#define MM_NATIVE_DSP 1
#else
#define MM_NATIVE_DSP 0
#endif

/* Kernels specialise small helpers on constant arguments (an output mode) by inlining them. */
#if defined(__GNUC__)
#define MM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MM_ALWAYS_INLINE inline
#endif

/* Four int8 values from any address as one little-endian word (one LDR on Cortex-M). */
static inline uint32_t mm_load_u32(const int8_t *bytes)
{
    uint32_t word;
    memcpy(&word, bytes, sizeof word);
    return word;
}

#if MM_NATIVE_DSP

/* Bytes 0 and 2 of x, sign-extended into a pair. */
static inline int32_t mm_sxtb16(uint32_t x)
{
    return (int32_t)__sxtb16(x);
}

/* Bytes 1 and 3 of x, sign-extended into a pair. */
static inline int32_t mm_sxtb16_ror8(uint32_t x)
{
    int32_t pair;
    __asm__("sxtb16 %0, %1, ror #8"
            : "=r"(pair)
            : "r"(x));
    return pair;
}

/* acc + bottom(a) * bottom(b) + top(a) * top(b). */
static inline int32_t mm_smlad(int32_t a, int32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}

/* acc + bottom(a) * bottom(b). */
static inline int32_t mm_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return __smlabb(a, b, acc);
}

/* acc + bottom(a) * top(b). */
static inline int32_t mm_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return __smlabt(a, b, acc);
}

/* Both lanes doubled (no overflow: lanes hold int8 values). */
static inline int32_t mm_double_pair(int32_t pair)
{
    return (int32_t)__sadd16(pair, pair);
}

/* The pair (bottom half of low, bottom half of high). */
static inline int32_t mm_pack_pair(int32_t low, int32_t high)
{
    int32_t pair;
    __asm__("pkhbt %0, %1, %2, lsl #16"
            : "=r"(pair)
            : "r"(low), "r"(high));
    return pair;
}

/* acc + ((a * b + 2^31) >> 32): the rounded high word of a product, accumulated. */
static inline int32_t mm_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t result;
    __asm__("smmlar %0, %1, %2, %3"
            : "=r"(result)
            : "r"(a), "r"(b), "r"(acc));
    return result;
}

/* x saturated to [-128, 127]. */
static inline int32_t mm_ssat8(int32_t x)
{
    return __ssat(x, 8);
}

#else /* plain C with the same results */

static inline int32_t mm_lane_bottom(int32_t pair)
{
    return (int16_t)((uint32_t)pair & 0xFFFFu);
}

static inline int32_t mm_lane_top(int32_t pair)
{
    return (int16_t)((uint32_t)pair >> 16);
}

static inline int32_t mm_make_pair(int32_t bottom, int32_t top)
{
    return (int32_t)(((uint32_t)bottom & 0xFFFFu) | ((uint32_t)top << 16));
}

static inline int32_t mm_sxtb16(uint32_t x)
{
    return mm_make_pair((int8_t)(x & 0xFFu), (int8_t)((x >> 16) & 0xFFu));
}

static inline int32_t mm_sxtb16_ror8(uint32_t x)
{
    return mm_sxtb16((x >> 8) | (x << 24));
}

/* Wrapping 32-bit sums, as the instructions do (the kernels never overflow, see mm_native.h). */
static inline int32_t mm_smlad(int32_t a, int32_t b, int32_t acc)
{
    const uint32_t low = (uint32_t)(mm_lane_bottom(a) * mm_lane_bottom(b));
    const uint32_t high = (uint32_t)(mm_lane_top(a) * mm_lane_top(b));
    return (int32_t)((uint32_t)acc + low + high);
}

static inline int32_t mm_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mm_lane_bottom(a) * mm_lane_bottom(b)));
}

static inline int32_t mm_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mm_lane_bottom(a) * mm_lane_top(b)));
}

static inline int32_t mm_double_pair(int32_t pair)
{
    return mm_make_pair(2 * mm_lane_bottom(pair), 2 * mm_lane_top(pair));
}

static inline int32_t mm_pack_pair(int32_t low, int32_t high)
{
    return mm_make_pair(low, high);
}

static inline int32_t mm_smmlar(int32_t a, int32_t b, int32_t acc)
{
    const int64_t rounded = ((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32;
    return (int32_t)((uint32_t)acc + (uint32_t)rounded);
}

static inline int32_t mm_ssat8(int32_t x)
{
    return x < -128 ? -128 : (x > 127 ? 127 : x);
}

#endif /* MM_NATIVE_DSP */

#endif /* MM_NATIVE_SIMD_H */
