/* SPDX-License-Identifier: Apache-2.0 */
/* MPS3 AN547 start-up: the core runs Secure with the reset configuration (SAU off, so all
 * memory is Secure) and reaches the UART through its Secure alias; nothing to set up. */
#include "mm_board.h"

void mm_board_init(void)
{
}
