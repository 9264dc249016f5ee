/* SPDX-License-Identifier: Apache-2.0 */
/* The seam between the portable harness and one board: start-up, UART, timer.
 *
 * Every board folder provides mm_board_init() (clocks, pins); the UART and timer come from a
 * driver in boards/common selected by board.toml. All of it is polled: the harness needs no
 * interrupt except the timer's overflow.
 */
#ifndef MM_BOARD_H
#define MM_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Clocks, flash wait states, UART pins. Called once by the reset handler before main. */
void mm_board_init(void);

void mm_uart_init(void);
void mm_uart_write(const uint8_t *data, size_t length);
/* Returns true and stores one received byte if one is waiting; never blocks. */
bool mm_uart_try_read(uint8_t *byte);

void mm_timer_init(void);
/* Monotonic ticks since mm_timer_init (MM_TIMER_HZ per second of the timer's clock). */
uint64_t mm_timer_now(void);

/* Memory-mapped register access. */
#define MM_REG32(address) (*(volatile uint32_t *)(uintptr_t)(address))

#endif
