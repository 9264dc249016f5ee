/* SPDX-License-Identifier: Apache-2.0 */
/* STM32F4 registers the board start-up code touches: clocks (RCC), flash wait states, power
 * and pin multiplexing. Addresses from the STM32F4 reference manuals (RM0090, RM0390). */
#ifndef MM_STM32F4_H
#define MM_STM32F4_H

#include "mm_board.h"

#define RCC_BASE 0x40023800u
#define RCC_CR (RCC_BASE + 0x00u)
#define RCC_PLLCFGR (RCC_BASE + 0x04u)
#define RCC_CFGR (RCC_BASE + 0x08u)
#define RCC_AHB1ENR (RCC_BASE + 0x30u)
#define RCC_APB1ENR (RCC_BASE + 0x40u)
#define RCC_APB2ENR (RCC_BASE + 0x44u)

#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_APB2ENR_USART1EN (1u << 4)

#define PWR_CR 0x40007000u
#define PWR_CSR 0x40007004u
#define FLASH_ACR 0x40023C00u

#define GPIOA_BASE 0x40020000u
#define GPIO_MODER 0x00u
#define GPIO_AFRL 0x20u
#define GPIO_AFRH 0x24u
#define GPIO_MODE_ALTERNATE 2u

/* Hands pin `pin` of the GPIO port at `port_base` to alternate function `function`. */
static inline void mm_stm32f4_pin_alternate(uint32_t port_base, uint32_t pin, uint32_t function)
{
    const uint32_t afr = port_base + (pin < 8u ? GPIO_AFRL : GPIO_AFRH);
    const uint32_t shift = 4u * (pin % 8u);
    MM_REG32(afr) = (MM_REG32(afr) & ~(0xFu << shift)) | (function << shift);
    const uint32_t moder = port_base + GPIO_MODER;
    MM_REG32(moder) = (MM_REG32(moder) & ~(3u << (2u * pin))) | (GPIO_MODE_ALTERNATE << (2u * pin));
}

#endif
