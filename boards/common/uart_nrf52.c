/* SPDX-License-Identifier: Apache-2.0 */
/* nRF52 UART0 in its legacy (non-DMA) mode: one byte at a time through RXD and TXD.
 * Pins come from board.toml (MM_UART_TX_PIN, MM_UART_RX_PIN); 115200 baud. */
#include "mm_board.h"

#define UART_TASKS_STARTRX (MM_UART_BASE + 0x000u)
#define UART_TASKS_STARTTX (MM_UART_BASE + 0x008u)
#define UART_EVENTS_RXDRDY (MM_UART_BASE + 0x108u)
#define UART_EVENTS_TXDRDY (MM_UART_BASE + 0x11Cu)
#define UART_ENABLE (MM_UART_BASE + 0x500u)
#define UART_PSEL_TXD (MM_UART_BASE + 0x50Cu)
#define UART_PSEL_RXD (MM_UART_BASE + 0x514u)
#define UART_RXD (MM_UART_BASE + 0x518u)
#define UART_TXD (MM_UART_BASE + 0x51Cu)
#define UART_BAUDRATE (MM_UART_BASE + 0x524u)
#define UART_CONFIG (MM_UART_BASE + 0x56Cu)

#define ENABLE_UART 4u
#define BAUDRATE_115200 0x01D7E000u

#if MM_UART_BAUD != 115200
#error "uart_nrf52.c only knows the register value for 115200 baud"
#endif

void mm_uart_init(void)
{
    MM_REG32(UART_PSEL_TXD) = MM_UART_TX_PIN;
    MM_REG32(UART_PSEL_RXD) = MM_UART_RX_PIN;
    MM_REG32(UART_BAUDRATE) = BAUDRATE_115200;
    MM_REG32(UART_CONFIG) = 0u; /* no parity, no flow control */
    MM_REG32(UART_ENABLE) = ENABLE_UART;
    MM_REG32(UART_EVENTS_RXDRDY) = 0u;
    MM_REG32(UART_TASKS_STARTRX) = 1u;
    MM_REG32(UART_TASKS_STARTTX) = 1u;
}

void mm_uart_write(const uint8_t *data, size_t length)
{
    for (size_t i = 0; i < length; ++i) {
        MM_REG32(UART_EVENTS_TXDRDY) = 0u;
        MM_REG32(UART_TXD) = data[i];
        while (MM_REG32(UART_EVENTS_TXDRDY) == 0u) {
        }
    }
}

bool mm_uart_try_read(uint8_t *byte)
{
    if (MM_REG32(UART_EVENTS_RXDRDY) == 0u) {
        return false;
    }
    MM_REG32(UART_EVENTS_RXDRDY) = 0u;
    *byte = (uint8_t)MM_REG32(UART_RXD);
    return true;
}
