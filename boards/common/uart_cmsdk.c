/* SPDX-License-Identifier: Apache-2.0 */
/* Arm CMSDK APB UART, as on the MPS2 and MPS3 FPGA images (one driver for all of them).
 * MM_UART_BASE and MM_UART_CLOCK_HZ come from board.toml. */
#include "mm_board.h"

#define UART_DATA (MM_UART_BASE + 0x000u)
#define UART_STATE (MM_UART_BASE + 0x004u)
#define UART_CTRL (MM_UART_BASE + 0x008u)
#define UART_BAUDDIV (MM_UART_BASE + 0x010u)

#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define CTRL_TX_ENABLE (1u << 0)
#define CTRL_RX_ENABLE (1u << 1)

void mm_uart_init(void)
{
    MM_REG32(UART_BAUDDIV) = MM_UART_CLOCK_HZ / MM_UART_BAUD;
    MM_REG32(UART_CTRL) = CTRL_TX_ENABLE | CTRL_RX_ENABLE;
}

void mm_uart_write(const uint8_t *data, size_t length)
{
    for (size_t i = 0; i < length; ++i) {
        while (MM_REG32(UART_STATE) & STATE_TX_FULL) {
        }
        MM_REG32(UART_DATA) = data[i];
    }
}

bool mm_uart_try_read(uint8_t *byte)
{
    if (!(MM_REG32(UART_STATE) & STATE_RX_FULL)) {
        return false;
    }
    *byte = (uint8_t)MM_REG32(UART_DATA);
    return true;
}
