/* SPDX-License-Identifier: Apache-2.0 */
/* The fault reporter: any HardFault (or escalated fault, or unexpected interrupt) sends one
 * FAULT frame with the faulting context, then the firmware stops. The host turns it into a
 * one-line error. */
#include <stdint.h>

#include "mm_board.h"
#include "mm_protocol.h"
#include "mm_startup.h"

#define SCB_ICSR 0xE000ED04u
#define SCB_CFSR 0xE000ED28u
#define SCB_HFSR 0xE000ED2Cu
#define SCB_MMFAR 0xE000ED34u
#define SCB_BFAR 0xE000ED38u

enum {
    FRAME_LR = 5,
    FRAME_PC = 6,
    FRAME_XPSR = 7
};

void mm_fault_report(const uint32_t *frame)
{
    const uint32_t values[] = {
        frame[FRAME_PC],
        frame[FRAME_LR],
        frame[FRAME_XPSR],
        MM_REG32(SCB_CFSR),
        MM_REG32(SCB_HFSR),
        MM_REG32(SCB_MMFAR),
        MM_REG32(SCB_BFAR),
        (uint32_t)(uintptr_t)frame,
        MM_REG32(SCB_ICSR) & 0x1FFu,
    };
    uint8_t bytes[sizeof values];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; ++i) {
        for (size_t b = 0; b < 4u; ++b) {
            bytes[4u * i + b] = (uint8_t)(values[i] >> (8u * b));
        }
    }
    mm_reply_begin(MM_REPLY_FAULT, sizeof bytes);
    mm_reply_append(bytes, sizeof bytes);
    mm_reply_end();
    for (;;) {
    }
}
