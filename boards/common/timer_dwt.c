/* SPDX-License-Identifier: Apache-2.0 */
/* The DWT cycle counter (CYCCNT) of real Cortex-M3/M4/M7/M33/M55 parts: one tick per core
 * clock cycle. Its 32 bits wrap after 2^32 cycles (24 s at 180 MHz); mm_timer_now extends it
 * to 64 bits, which is exact as long as it is called at least once per wrap (the harness reads
 * it before and after every inference and after every layer). */
#include "mm_board.h"

#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u
#define DWT_LAR 0xE0001FB0u

#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_LAR_UNLOCK 0xC5ACCE55u

static uint32_t last_count;
static uint64_t high_part;

void mm_timer_init(void)
{
    MM_REG32(DEMCR) |= DEMCR_TRCENA;
    /* Cortex-M7 locks the DWT registers until this key is written; elsewhere it is ignored. */
    MM_REG32(DWT_LAR) = DWT_LAR_UNLOCK;
    MM_REG32(DWT_CYCCNT) = 0u;
    MM_REG32(DWT_CTRL) |= DWT_CTRL_CYCCNTENA;
    last_count = 0u;
    high_part = 0u;
}

uint64_t mm_timer_now(void)
{
    uint32_t count = MM_REG32(DWT_CYCCNT);
    if (count < last_count) {
        high_part += (uint64_t)1u << 32;
    }
    last_count = count;
    return high_part | count;
}
