/* SPDX-License-Identifier: Apache-2.0 */
/* The framed serial protocol between the host and the firmware (README, "The serial protocol").
 *
 * A frame, both directions: a zero byte, the COBS encoding of its body, a zero byte. The body,
 * little-endian:
 *   'M' 'M' | type (1 byte) | sequence (1 byte) | payload length (4 bytes) | payload | CRC-32
 * The CRC is the common CRC-32 (zlib's, reflected 0xEDB88320) of type, sequence, length and
 * payload. COBS leaves no zero byte inside a frame, so a zero always means a frame boundary:
 * a frame cut short ends at the next frame's first byte, and the firmware never needs a
 * timeout to find where a frame starts. Time is the host's business alone.
 *
 * The host sends one request and waits for its reply, which carries the request's sequence
 * number. Inputs travel in LOAD requests of at most MM_LOAD_CHUNK_BYTES, each acknowledged:
 * that is the flow control, and it lets the host see a transfer progress. */
#ifndef MM_PROTOCOL_H
#define MM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define MM_PROTOCOL_VERSION 2u
#define MM_FRAME_DELIMITER 0x00u
#define MM_MAGIC_0 0x4Du
#define MM_MAGIC_1 0x4Du
#define MM_HEADER_BYTES 8u /* magic, type, sequence, payload length */
#define MM_CRC_BYTES 4u
/* The sequence number of frames that answer no request (READY), and of errors about frames
 * too damaged to have one. Hosts number their requests from 1. */
#define MM_SEQUENCE_NONE 0u

/* Requests; the reply to request T has type T | MM_REPLY_FLAG. */
#define MM_CMD_INFO 0x01u
#define MM_CMD_INFER 0x02u
#define MM_CMD_BENCH 0x03u
#define MM_CMD_PROFILE 0x04u
/* Times a loop of exactly 2 x argument instructions: checks the tick conversion. */
#define MM_CMD_CALIBRATE 0x05u
/* Writes input bytes at an offset of the model's input slot (argument: the offset). */
#define MM_CMD_LOAD 0x06u
/* Executes an undefined instruction: lets tests check that faults are reported. */
#define MM_CMD_CRASH 0x0Eu
#define MM_REPLY_FLAG 0x80u
#define MM_REPLY_ERROR 0x7Fu
#define MM_REPLY_FAULT 0x7Eu
/* Sent once at boot (payload: the build id), so a host that starts the board knows when it
 * listens. */
#define MM_REPLY_READY 0x7Du

/* Payload of an ERROR reply: one code byte, then a short ASCII message. */
#define MM_ERR_BAD_SYNC 1u    /* a frame that does not start with the magic */
#define MM_ERR_TRUNCATED 2u   /* a frame that ended before its length field said */
#define MM_ERR_TOO_LONG 3u    /* length field above the largest payload the firmware takes */
#define MM_ERR_BAD_CRC 4u     /* CRC mismatch */
#define MM_ERR_BAD_COMMAND 5u /* unknown request type */
#define MM_ERR_BAD_LENGTH 6u  /* payload length wrong for this request, or bytes past it */
#define MM_ERR_BAD_ARGUMENT 7u
#define MM_ERR_MODEL 8u    /* the model's init or invoke returned an error */
#define MM_ERR_NO_INPUT 9u /* INFER, BENCH or PROFILE before the whole input was loaded */

/* Every request payload starts with a 4-byte argument (BENCH: runs; LOAD: the offset). */
#define MM_ARGUMENT_BYTES 4u
/* Largest LOAD: 89 ms at 115200 baud, so the host hears from the board several times a second
 * during a large input. */
#define MM_LOAD_CHUNK_BYTES 1024u
#define MM_MAX_PAYLOAD (MM_ARGUMENT_BYTES + MM_LOAD_CHUNK_BYTES)

typedef struct {
    uint8_t type;
    uint8_t sequence;
    uint32_t payload_length;
    uint32_t argument; /* the first 4 payload bytes, little-endian, when present */
} mm_request_t;

/* Receives each payload byte after the argument (index 0 is the fifth payload byte), as it
 * arrives and before the CRC is checked: LOAD data goes straight into the model's input slot. */
typedef void (*mm_data_sink_t)(const mm_request_t *request, uint32_t index, uint8_t byte);

/* Waits for the next frame (empty frames are skipped) and returns 0, or the MM_ERR_* code of
 * what is wrong with it. Replies sent afterwards carry its sequence number, or
 * MM_SEQUENCE_NONE if the frame broke off before it. */
uint8_t mm_receive_request(mm_request_t *request, mm_data_sink_t sink);

uint32_t mm_crc32_update(uint32_t crc, const uint8_t *data, size_t length);

/* Replies are written in pieces so that large buffers (outputs) need no copy. */
void mm_reply_begin(uint8_t type, uint32_t payload_length);
void mm_reply_append(const void *data, size_t length);
void mm_reply_end(void);

void mm_reply_error(uint8_t code, const char *message);

#endif
