/* SPDX-License-Identifier: Apache-2.0 */
/* Reset and exception vectors for every board (Armv7-M and Armv8-M Mainline).
 *
 * The reset handler sets up C (copies .data, zeroes .bss), paints the stack so the harness
 * can measure its high-water mark, turns on the FPU where the build uses one, runs the board's
 * own start-up (clocks, pins) and calls main. Every fault and unexpected interrupt lands in the
 * harness's fault reporter, which tells the host over the UART. */
#include <stdint.h>

#include "mm_board.h"
#include "mm_startup.h"

extern uint32_t __data_load_start[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern uint32_t __arena_start[];
extern uint32_t __arena_end[];
extern uint32_t __stack_bottom[];
extern uint32_t __stack_top[];

int main(void);
void Reset_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("HardFault_Handler")));

#define CPACR 0xE000ED88u
#define CPACR_CP10_CP11_FULL (0xFu << 20)

static void zero_words(uint32_t *start, const uint32_t *end)
{
    for (uint32_t *word = start; word < end; ++word) {
        *word = 0u;
    }
}

static void paint_free_stack(void)
{
    uintptr_t stack_pointer;
    __asm__ volatile("mov %0, sp"
                     : "=r"(stack_pointer));
    /* Everything below the current stack pointer is unused; leave a margin for this frame. */
    for (uint32_t *word = __stack_bottom; (uintptr_t)word < stack_pointer - 64u; ++word) {
        *word = MM_STACK_PAINT;
    }
}

void Reset_Handler(void)
{
    const uint32_t *source = __data_load_start;
    for (uint32_t *word = __data_start; word < __data_end; ++word) {
        *word = *source++;
    }
    zero_words(__bss_start, __bss_end);
    zero_words(__arena_start, __arena_end);
    paint_free_stack();
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    MM_REG32(CPACR) |= CPACR_CP10_CP11_FULL;
    __asm__ volatile("dsb\n\tisb"
                     :
                     :
                     : "memory");
#endif
    mm_board_init();
    (void)main();
    for (;;) {
    }
}

/* Passes the stacked exception frame (r0-r3, r12, lr, pc, xpsr) of whichever stack was active
 * to the harness's reporter. */
__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "b mm_fault_report\n\t");
}

typedef void (*vector_t)(void);

/* Entry 0 is the initial stack pointer; 2-15 are the system exceptions. No peripheral
 * interrupt is enabled, so the table stops there. */
__attribute__((section(".vectors"), used)) static const vector_t vector_table[16] = {
    (vector_t)(uintptr_t)__stack_top,
    Reset_Handler,
    HardFault_Handler, /* NMI */
    HardFault_Handler,
    HardFault_Handler, /* MemManage */
    HardFault_Handler, /* BusFault */
    HardFault_Handler, /* UsageFault */
    HardFault_Handler, /* SecureFault on Armv8-M */
    0,
    0,
    0,
    HardFault_Handler, /* SVCall */
    HardFault_Handler, /* DebugMonitor */
    0,
    HardFault_Handler, /* PendSV */
    SysTick_Handler,
};
