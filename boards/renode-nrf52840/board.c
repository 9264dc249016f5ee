/* SPDX-License-Identifier: Apache-2.0 */
/* nRF52840 under Renode: the UART driver routes its pins; nothing else to set up (the
 * emulated clock tree needs no crystal start). */
#include "mm_board.h"

void mm_board_init(void)
{
}
