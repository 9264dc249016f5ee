/* SPDX-License-Identifier: Apache-2.0 */
/* SysTick as a 64-bit tick counter: the 24-bit down-counter runs from the processor clock
 * (MM_TIMER_HZ) and its wrap interrupt counts periods.
 *
 * Used under emulators, which have no cycle counter. QEMU with `-icount shift=0` advances its
 * virtual clock by exactly 1 ns per executed instruction, so ticks convert to instructions
 * (1e9 / MM_TIMER_HZ per tick); the host does that conversion, never the firmware. */
#include "mm_board.h"

#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u

#define CSR_ENABLE (1u << 0)
#define CSR_TICKINT (1u << 1)
#define CSR_CLKSOURCE_CPU (1u << 2)

#define PERIOD_TICKS (1u << 24)

static volatile uint32_t completed_periods;

void SysTick_Handler(void);

void SysTick_Handler(void)
{
    completed_periods = completed_periods + 1u;
}

void mm_timer_init(void)
{
    MM_REG32(SYST_CSR) = 0u;
    MM_REG32(SYST_RVR) = PERIOD_TICKS - 1u;
    MM_REG32(SYST_CVR) = 0u;
    completed_periods = 0u;
    MM_REG32(SYST_CSR) = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CPU;
}

uint64_t mm_timer_now(void)
{
    uint32_t periods;
    uint32_t remaining;
    /* Re-read if the wrap interrupt ran between the two reads. */
    do {
        periods = completed_periods;
        remaining = MM_REG32(SYST_CVR);
    } while (periods != completed_periods);
    return (uint64_t)periods * PERIOD_TICKS + (PERIOD_TICKS - 1u - remaining);
}
