/* SPDX-License-Identifier: Apache-2.0 */
/* What the start-up code shares with the harness: the stack paint and the fault reporter. */
#ifndef MM_STARTUP_H
#define MM_STARTUP_H

#include <stdint.h>

/* Value written over the free stack at reset; words still holding it were never used. */
#define MM_STACK_PAINT 0xA5C3A5C3u

extern uint32_t __stack_bottom[];
extern uint32_t __stack_top[];

/* Called by the HardFault handler with the stacked frame: r0, r1, r2, r3, r12, lr, pc, xpsr.
 * Reports the fault over the UART and never returns. */
void mm_fault_report(const uint32_t *frame) __attribute__((noreturn));

#endif
