/* SPDX-License-Identifier: Apache-2.0 */
/* NUCLEO-F446RE start-up: 180 MHz from the internal 16 MHz oscillator through the PLL
 * (16 / 8 * 180 / 2), with voltage scale 1, over-drive and 5 flash wait states as RM0390
 * requires at that speed, the ART accelerator on, APB1 at 45 MHz and APB2 at 90 MHz; then
 * USART2 on PA2/PA3 (the ST-LINK's virtual COM port). */
#include "mm_board.h"
#include "stm32f4.h"

#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define PLL_M 8u
#define PLL_N 180u
#define PLL_P_DIV2 0u
#define PLL_Q 8u
#define PLL_R 2u
#define PWR_CR_VOS_SCALE1 (3u << 14)
#define PWR_CR_ODEN (1u << 16)
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)
#define FLASH_ACR_LATENCY_5WS 5u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)

static void wait_for(uint32_t address, uint32_t mask, uint32_t value)
{
    while ((MM_REG32(address) & mask) != value) {
    }
}

void mm_board_init(void)
{
    MM_REG32(RCC_APB1ENR) |= RCC_APB1ENR_PWREN;
    MM_REG32(PWR_CR) |= PWR_CR_VOS_SCALE1;
    MM_REG32(RCC_PLLCFGR) = PLL_M | (PLL_N << 6) | (PLL_P_DIV2 << 16) | (PLL_Q << 24) |
                            (PLL_R << 28); /* PLL source: HSI */
    MM_REG32(RCC_CR) |= RCC_CR_PLLON;
    wait_for(RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY);
    MM_REG32(PWR_CR) |= PWR_CR_ODEN;
    wait_for(PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY);
    MM_REG32(PWR_CR) |= PWR_CR_ODSWEN;
    wait_for(PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY);
    MM_REG32(FLASH_ACR) =
        FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    MM_REG32(RCC_CFGR) = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
    wait_for(RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);

    MM_REG32(RCC_AHB1ENR) |= RCC_AHB1ENR_GPIOAEN;
    MM_REG32(RCC_APB1ENR) |= RCC_APB1ENR_USART2EN;
    mm_stm32f4_pin_alternate(GPIOA_BASE, 2u, 7u);
    mm_stm32f4_pin_alternate(GPIOA_BASE, 3u, 7u);
}
