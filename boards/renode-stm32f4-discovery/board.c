/* SPDX-License-Identifier: Apache-2.0 */
/* STM32F4 Discovery start-up: clocks GPIOA and USART2 and hands PA2/PA3 to the USART
 * (alternate function 7). The core keeps its reset clock (16 MHz HSI). */
#include "mm_board.h"
#include "stm32f4.h"

void mm_board_init(void)
{
    MM_REG32(RCC_AHB1ENR) |= RCC_AHB1ENR_GPIOAEN;
    MM_REG32(RCC_APB1ENR) |= RCC_APB1ENR_USART2EN;
    mm_stm32f4_pin_alternate(GPIOA_BASE, 2u, 7u);
    mm_stm32f4_pin_alternate(GPIOA_BASE, 3u, 7u);
}
