/* SPDX-License-Identifier: Apache-2.0 */
/* STM32F2/F4 USART (status register at 0x00, data at 0x04, BRR at 0x08, CR1 at 0x0C).
 * The board's mm_board_init routes the pins and clocks the peripheral; MM_UART_BASE and
 * MM_UART_CLOCK_HZ (the APB clock feeding it) come from board.toml. */
#include "mm_board.h"

#define USART_SR (MM_UART_BASE + 0x00u)
#define USART_DR (MM_UART_BASE + 0x04u)
#define USART_BRR (MM_UART_BASE + 0x08u)
#define USART_CR1 (MM_UART_BASE + 0x0Cu)

#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_UE (1u << 13)

void mm_uart_init(void)
{
    /* 16x oversampling: BRR holds the clock divider with 4 fraction bits, i.e. clock/baud. */
    MM_REG32(USART_BRR) = (MM_UART_CLOCK_HZ + MM_UART_BAUD / 2u) / MM_UART_BAUD;
    MM_REG32(USART_CR1) = CR1_UE | CR1_TE | CR1_RE;
}

void mm_uart_write(const uint8_t *data, size_t length)
{
    for (size_t i = 0; i < length; ++i) {
        while (!(MM_REG32(USART_SR) & SR_TXE)) {
        }
        MM_REG32(USART_DR) = data[i];
    }
}

bool mm_uart_try_read(uint8_t *byte)
{
    if (!(MM_REG32(USART_SR) & SR_RXNE)) {
        return false;
    }
    *byte = (uint8_t)MM_REG32(USART_DR);
    return true;
}
