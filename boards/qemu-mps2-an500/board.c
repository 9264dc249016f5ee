/* SPDX-License-Identifier: Apache-2.0 */
/* MPS2 AN500 start-up: the FPGA image needs no clock or pin set-up; the CMSDK UART only
 * needs enabling, which its driver does. */
#include "mm_board.h"

void mm_board_init(void)
{
}
