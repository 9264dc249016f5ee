/* SPDX-License-Identifier: Apache-2.0 */
/* Sending frames: CRC-32 and the reply writer. Receiving lives in main.c, which knows where
 * each request's payload goes. */
#include "mm_protocol.h"

#include <string.h>

#include "mm_board.h"

uint32_t mm_crc32_update(uint32_t crc, const uint8_t *data, size_t length)
{
    crc = ~crc;
    for (size_t i = 0; i < length; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

typedef struct {
    uint32_t crc;
} reply_state_t;

static reply_state_t reply;

void mm_reply_begin(uint8_t type, uint32_t payload_length)
{
    const uint8_t magic[2] = {MM_MAGIC_0, MM_MAGIC_1};
    uint8_t header[5] = {type, (uint8_t)payload_length, (uint8_t)(payload_length >> 8),
                         (uint8_t)(payload_length >> 16), (uint8_t)(payload_length >> 24)};
    mm_uart_write(magic, sizeof magic);
    mm_uart_write(header, sizeof header);
    reply.crc = mm_crc32_update(0u, header, sizeof header);
}

void mm_reply_append(const void *data, size_t length)
{
    mm_uart_write(data, length);
    reply.crc = mm_crc32_update(reply.crc, data, length);
}

void mm_reply_end(void)
{
    const uint8_t crc[4] = {(uint8_t)reply.crc, (uint8_t)(reply.crc >> 8),
                            (uint8_t)(reply.crc >> 16), (uint8_t)(reply.crc >> 24)};
    mm_uart_write(crc, sizeof crc);
}

void mm_reply_error(uint8_t code, const char *message)
{
    size_t length = strlen(message);
    mm_reply_begin(MM_REPLY_ERROR, (uint32_t)(1u + length));
    mm_reply_append(&code, 1u);
    mm_reply_append(message, length);
    mm_reply_end();
}
