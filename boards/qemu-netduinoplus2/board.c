/* SPDX-License-Identifier: Apache-2.0 */
/* Netduino Plus 2 start-up: clocks GPIOA and USART1 and hands PA9/PA10 to the USART
 * (alternate function 7). The core keeps its reset clock. */
#include "mm_board.h"
#include "stm32f4.h"

void mm_board_init(void)
{
    MM_REG32(RCC_AHB1ENR) |= RCC_AHB1ENR_GPIOAEN;
    MM_REG32(RCC_APB2ENR) |= RCC_APB2ENR_USART1EN;
    mm_stm32f4_pin_alternate(GPIOA_BASE, 9u, 7u);
    mm_stm32f4_pin_alternate(GPIOA_BASE, 10u, 7u);
}
