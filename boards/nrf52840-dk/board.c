/* SPDX-License-Identifier: Apache-2.0 */
/* nRF52840-DK start-up: runs the 64 MHz clock from the crystal (accurate baud rate) and
 * turns on the flash instruction cache, as any timed application would. */
#include "mm_board.h"

#define CLOCK_TASKS_HFCLKSTART 0x40000000u
#define CLOCK_EVENTS_HFCLKSTARTED 0x40000100u
#define NVMC_ICACHECNF 0x4001E540u
#define ICACHECNF_CACHEEN 1u
/* The crystal starts in well under a millisecond; give up after far longer than that. */
#define HFXO_START_POLLS 1000000u

void mm_board_init(void)
{
    MM_REG32(NVMC_ICACHECNF) = ICACHECNF_CACHEEN;
    MM_REG32(CLOCK_EVENTS_HFCLKSTARTED) = 0u;
    MM_REG32(CLOCK_TASKS_HFCLKSTART) = 1u;
    for (uint32_t poll = 0; poll < HFXO_START_POLLS; ++poll) {
        if (MM_REG32(CLOCK_EVENTS_HFCLKSTARTED) != 0u) {
            break;
        }
    }
}
