/* SPDX-License-Identifier: Apache-2.0 */
/* Frames on the UART: COBS decoding of requests as they arrive, COBS encoding of replies, and
 * the CRC-32 of both. What a request means is main.c's business. */
#include "mm_protocol.h"

#include <stdbool.h>
#include <string.h>

#include "mm_board.h"

/* A COBS block holds at most 254 data bytes; its code byte is their count plus one. */
#define COBS_MAX_BLOCK 254u
#define COBS_FULL_BLOCK_CODE 0xFFu

/* The sequence number replies carry: that of the request being served. */
static uint8_t reply_sequence = MM_SEQUENCE_NONE;

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

/* A few hundred instructions between two polls of an empty UART. Under QEMU every register
 * read takes a lock that its I/O thread needs to deliver the next byte, so polling less often
 * receives faster (measured: a 150 KB input 20% faster than a tight loop). On a real board it
 * is far shorter than one byte at 115200 baud (87 us). */
static void pause_between_polls(void)
{
    for (uint32_t i = 0; i < 128u; ++i) {
        __asm__ volatile("");
    }
}

static uint8_t read_byte(void)
{
    uint8_t byte;
    while (!mm_uart_try_read(&byte)) {
        pause_between_polls();
    }
    return byte;
}

/* One frame's body, decoded byte by byte. */
typedef struct {
    mm_request_t *request;
    mm_data_sink_t sink;
    uint32_t decoded; /* body bytes so far */
    uint32_t crc;
    uint8_t received_crc[MM_CRC_BYTES];
    uint8_t error;
} body_t;

static void take_header_byte(body_t *body, uint32_t at, uint8_t byte)
{
    mm_request_t *request = body->request;
    body->crc = mm_crc32_update(body->crc, &byte, 1u);
    if (at == 2u) {
        request->type = byte;
    } else if (at == 3u) {
        request->sequence = byte;
        reply_sequence = byte;
    } else {
        request->payload_length |= (uint32_t)byte << (8u * (at - 4u));
        if (at == MM_HEADER_BYTES - 1u && request->payload_length > MM_MAX_PAYLOAD) {
            body->error = MM_ERR_TOO_LONG;
        }
    }
}

static void take_body_byte(body_t *body, uint8_t byte)
{
    const uint32_t at = body->decoded++;
    mm_request_t *request = body->request;
    if (body->error != 0u) {
        return; /* the frame is refused already: wait for its end */
    }
    if (at < 2u) {
        if (byte != (at == 0u ? MM_MAGIC_0 : MM_MAGIC_1)) {
            body->error = MM_ERR_BAD_SYNC;
        }
        return;
    }
    if (at < MM_HEADER_BYTES) {
        take_header_byte(body, at, byte);
        return;
    }
    const uint32_t payload_at = at - MM_HEADER_BYTES;
    if (payload_at < request->payload_length) {
        body->crc = mm_crc32_update(body->crc, &byte, 1u);
        if (payload_at < MM_ARGUMENT_BYTES) {
            request->argument |= (uint32_t)byte << (8u * payload_at);
        } else {
            body->sink(request, payload_at - MM_ARGUMENT_BYTES, byte);
        }
        return;
    }
    const uint32_t crc_at = payload_at - request->payload_length;
    if (crc_at < MM_CRC_BYTES) {
        body->received_crc[crc_at] = byte;
    } else {
        body->error = MM_ERR_BAD_LENGTH;
    }
}

static uint32_t read_le32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) |
           ((uint32_t)bytes[3] << 24);
}

static uint8_t check_ended_body(const body_t *body, bool block_cut_short)
{
    if (body->error != 0u) {
        return body->error;
    }
    const uint32_t expected = MM_HEADER_BYTES + body->request->payload_length + MM_CRC_BYTES;
    if (block_cut_short || body->decoded < expected) {
        return MM_ERR_TRUNCATED;
    }
    return read_le32(body->received_crc) == body->crc ? 0u : MM_ERR_BAD_CRC;
}

uint8_t mm_receive_request(mm_request_t *request, mm_data_sink_t sink)
{
    for (;;) {
        memset(request, 0, sizeof *request);
        reply_sequence = MM_SEQUENCE_NONE;
        body_t body = {request, sink, 0u, 0u, {0u, 0u, 0u, 0u}, 0u};
        /* COBS: a code byte n says n - 1 data bytes follow, then a zero unless n is 0xFF or
         * the block is the frame's last. */
        uint32_t block_left = 0u;
        bool zero_after_block = false;
        bool started = false;
        for (uint8_t byte = read_byte(); byte != MM_FRAME_DELIMITER; byte = read_byte()) {
            if (block_left != 0u) {
                take_body_byte(&body, byte);
                --block_left;
                continue;
            }
            if (started && zero_after_block) {
                take_body_byte(&body, 0u);
            }
            started = true;
            block_left = byte - 1u;
            zero_after_block = byte != COBS_FULL_BLOCK_CODE;
        }
        if (started) {
            return check_ended_body(&body, block_left != 0u);
        }
    }
}

/* Replies: each byte of the body goes through the COBS block being built. */
static struct {
    uint32_t crc;
    uint8_t block[COBS_MAX_BLOCK];
    uint32_t block_length;
} reply;

static void write_delimiter(void)
{
    const uint8_t delimiter = MM_FRAME_DELIMITER;
    mm_uart_write(&delimiter, 1u);
}

static void flush_block(void)
{
    const uint8_t code = (uint8_t)(reply.block_length + 1u);
    mm_uart_write(&code, 1u);
    mm_uart_write(reply.block, reply.block_length);
    reply.block_length = 0u;
}

static void encode(const uint8_t *data, size_t length)
{
    for (size_t i = 0; i < length; ++i) {
        if (data[i] == 0u) {
            flush_block(); /* the code byte stands for the zero */
            continue;
        }
        reply.block[reply.block_length++] = data[i];
        if (reply.block_length == COBS_MAX_BLOCK) {
            flush_block(); /* code 0xFF: a full block, no zero after it */
        }
    }
}

void mm_reply_begin(uint8_t type, uint32_t payload_length)
{
    const uint8_t magic[2] = {MM_MAGIC_0, MM_MAGIC_1};
    const uint8_t header[6] = {type,
                               reply_sequence,
                               (uint8_t)payload_length,
                               (uint8_t)(payload_length >> 8),
                               (uint8_t)(payload_length >> 16),
                               (uint8_t)(payload_length >> 24)};
    write_delimiter();
    reply.block_length = 0u;
    encode(magic, sizeof magic);
    encode(header, sizeof header);
    reply.crc = mm_crc32_update(0u, header, sizeof header);
}

void mm_reply_append(const void *data, size_t length)
{
    encode(data, length);
    reply.crc = mm_crc32_update(reply.crc, data, length);
}

void mm_reply_end(void)
{
    const uint8_t crc[4] = {(uint8_t)reply.crc, (uint8_t)(reply.crc >> 8),
                            (uint8_t)(reply.crc >> 16), (uint8_t)(reply.crc >> 24)};
    encode(crc, sizeof crc);
    flush_block();
    write_delimiter();
}

void mm_reply_error(uint8_t code, const char *message)
{
    size_t length = strlen(message);
    mm_reply_begin(MM_REPLY_ERROR, (uint32_t)(1u + length));
    mm_reply_append(&code, 1u);
    mm_reply_append(message, length);
    mm_reply_end();
}
