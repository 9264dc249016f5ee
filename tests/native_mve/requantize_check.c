/* SPDX-License-Identifier: Apache-2.0 */
/* Checks MM_NATIVE_MVE_REQUANTIZE, the requantization the Helium kernels assemble
 * (mm_native_mve.h), against TFLM's (mm_fixed_point.h) on a Cortex-M55, lane by lane, and
 * exits through semihosting with status 0 when every case matches. Built and run in QEMU by
 * tests/test_native_helium.py.
 *
 * Cases: every accumulator in [-3000, 3000] with multiplier 2^30 and shifts 1-5, which
 * hits every rounding tie of negative and positive values, and seeded random accumulators,
 * multipliers, shifts, zero points and activation ranges; each under the ties-away mode,
 * and under the clamped mode wherever its condition (act_min >= zero_point) holds. */
#include <stdint.h>

#include "mm_fixed_point.h"
#include "mm_native_mve.h"

extern uint32_t __stack_top[];
void Reset_Handler(void);

__attribute__((section(".vectors"), used)) static void (*const vectors[2])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, Reset_Handler};

enum { SYS_WRITE0 = 0x04,
       SYS_EXIT = 0x18 };
#define EXIT_SUCCESS_REASON 0x20026u /* ADP_Stopped_ApplicationExit */
#define EXIT_FAILURE_REASON 0x20024u /* ADP_Stopped_RunTimeErrorUnknown */

static void semihost(uint32_t operation, const void *argument)
{
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab"
                     : "+r"(r0)
                     : "r"(r1)
                     : "memory");
}

static void print(const char *text)
{
    semihost(SYS_WRITE0, text);
}

static void print_int(const char *label, int64_t value)
{
    char digits[24];
    int at = 23;
    uint64_t magnitude = value < 0 ? (uint64_t)(-value) : (uint64_t)value;
    digits[at] = '\0';
    do {
        digits[--at] = (char)('0' + magnitude % 10u);
        magnitude /= 10u;
    } while (magnitude != 0u);
    if (value < 0) {
        digits[--at] = '-';
    }
    print(label);
    print(digits + at);
}

typedef struct {
    uint32_t state;
    int64_t cases, negative_ties, mismatches;
} check_t;

static uint32_t next_random(check_t *check)
{
    check->state ^= check->state << 13;
    check->state ^= check->state >> 17;
    check->state ^= check->state << 5;
    return check->state;
}

/* The kernels' sequence on one vector. */
static int32x4_t requantize(int32x4_t acc, int32x4_t multiplier, int32x4_t neg_shift,
                            const mm_native_mve_output *output)
{
    const int32x4_t act_min = vdupq_n_s32(output->act_min);
    const int32x4_t act_max = vdupq_n_s32(output->act_max);
    int32x4_t temp;
    if (output->ties == MM_NATIVE_MVE_TIES_AWAY) {
        __asm__(MM_NATIVE_MVE_REQUANTIZE("%q[acc]", "%q[multiplier]", "%q[neg_shift]",
                                         "%[zero_point]",
                                         MM_NATIVE_MVE_FIX_TIES("%q[acc]", "%q[temp]"))
                : [acc] "+w"(acc), [temp] "=&w"(temp)
                : [multiplier] "w"(multiplier), [neg_shift] "w"(neg_shift),
                  [zero_point] "r"(output->zero_point), [act_min] "w"(act_min),
                  [act_max] "w"(act_max));
    } else {
        __asm__(MM_NATIVE_MVE_REQUANTIZE("%q[acc]", "%q[multiplier]", "%q[neg_shift]",
                                         "%[zero_point]", "")
                : [acc] "+w"(acc)
                : [multiplier] "w"(multiplier), [neg_shift] "w"(neg_shift),
                  [zero_point] "r"(output->zero_point), [act_min] "w"(act_min),
                  [act_max] "w"(act_max));
    }
    return acc;
}

/* TFLM: MultiplyByQuantizedMultiplier, then the zero point (wrapping int32 add) and clamp. */
static int32_t reference(int32_t acc, int32_t multiplier, int32_t shift, const mm_native_mve_output *o)
{
    const int32_t scaled = mm_requantize(acc, multiplier, -shift);
    return mm_clamp((int32_t)((uint32_t)scaled + (uint32_t)o->zero_point), o->act_min, o->act_max);
}

static void check_lanes(check_t *check, const int32_t acc[4], int32_t multiplier, int32_t shift,
                        const mm_native_mve_output *output)
{
    const int32x4_t accs = vld1q_s32(acc);
    const int32x4_t multipliers = vdupq_n_s32(multiplier), neg_shifts = vdupq_n_s32(-shift);
    int32_t got[4];
    vst1q_s32(got, requantize(accs, multipliers, neg_shifts, output));
    for (int lane = 0; lane < 4; ++lane) {
        const int32_t t = mm_doubling_high_mul(acc[lane], multiplier);
        const int32_t half = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
        check->negative_ties += shift > 0 && t < 0 && (t & ((half << 1) - 1)) == half;
        ++check->cases;
        const int32_t expected = reference(acc[lane], multiplier, shift, output);
        if (got[lane] != expected && check->mismatches++ == 0) {
            print_int("first mismatch: acc ", acc[lane]);
            print_int(" multiplier ", multiplier);
            print_int(" shift ", shift);
            print_int(" zero point ", output->zero_point);
            print_int(" ties ", output->ties);
            print_int(" got ", got[lane]);
            print_int(" expected ", expected);
            print("\n");
        }
    }
}

/* Under both modes where the clamped one applies, else under ties-away only. */
static void check_modes(check_t *check, const int32_t acc[4], int32_t multiplier, int32_t shift,
                        int32_t zero_point, int32_t act_min, int32_t act_max)
{
    mm_native_mve_output output = {zero_point, act_min, act_max, MM_NATIVE_MVE_TIES_AWAY};
    if (shift >= 1) {
        check_lanes(check, acc, multiplier, shift, &output);
    }
    if (act_min >= zero_point) {
        output.ties = MM_NATIVE_MVE_TIES_CLAMPED;
        check_lanes(check, acc, multiplier, shift, &output);
    }
}

static int32_t random_in(check_t *check, int32_t low, int32_t high)
{
    return low + (int32_t)(next_random(check) % (uint32_t)(high - low + 1));
}

void Reset_Handler(void)
{
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: enable the FPU and MVE */
    __asm__ volatile("dsb\n\tisb" ::
                         : "memory");
    check_t check = {2463534242u, 0, 0, 0};
    static const int32_t zero_points[] = {-128, -7, 0, 5, 127};
    for (int32_t shift = 1; shift <= 5; ++shift) {
        for (int32_t z = 0; z < 5; ++z) {
            const int32_t zp = zero_points[z];
            for (int32_t first = -3000; first <= 3000; first += 4) {
                const int32_t acc[4] = {first, first + 1, first + 2, first + 3};
                check_modes(&check, acc, 1 << 30, shift, zp, -128, 127);
                check_modes(&check, acc, 1 << 30, shift, zp, zp, zp + 100 > 127 ? 127 : zp + 100);
            }
        }
    }
    for (int32_t i = 0; i < 40000; ++i) {
        const int32_t wide = (int32_t)next_random(&check);
        const int32_t magnitude = (int32_t)(next_random(&check) >> random_in(&check, 1, 31));
        const int32_t acc[4] = {wide, -magnitude, magnitude, i % 2 ? INT32_MIN : INT32_MAX};
        const int32_t multiplier = (int32_t)(0x40000000u | (next_random(&check) >> 2));
        const int32_t zp = random_in(&check, -128, 127);
        const int32_t low = random_in(&check, -128, 127), high = random_in(&check, low, 127);
        check_modes(&check, acc, multiplier, random_in(&check, 0, 31), zp, low, high);
        check_modes(&check, acc, multiplier, random_in(&check, 0, 31), zp, zp, high < zp ? zp : high);
    }
    print_int("cases ", check.cases);
    print_int(" negative ties ", check.negative_ties);
    print_int(" mismatches ", check.mismatches);
    print("\n");
    semihost(SYS_EXIT, (const void *)(check.mismatches == 0 ? EXIT_SUCCESS_REASON
                                                            : EXIT_FAILURE_REASON));
    for (;;) {
    }
}
