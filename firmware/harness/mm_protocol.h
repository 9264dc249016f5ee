/* SPDX-License-Identifier: Apache-2.0 */
/* The framed serial protocol between the host and the firmware (docs/readme-firmware.md).
 *
 * Frame, both directions, little-endian:
 *   'M' 'M' | type (1 byte) | payload length (4 bytes) | payload | CRC-32 (4 bytes)
 * The CRC is the common CRC-32 (zlib's, reflected 0xEDB88320) of type, length and payload.
 * The host sends one request and waits for its reply; a bad frame gets an ERROR reply once the
 * line has been idle for the inter-byte timeout, and the firmware keeps serving. */
#ifndef MM_PROTOCOL_H
#define MM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define MM_PROTOCOL_VERSION 1u
#define MM_MAGIC_0 0x4Du
#define MM_MAGIC_1 0x4Du
#define MM_HEADER_BYTES 7u
#define MM_CRC_BYTES 4u

/* Requests; the reply to request T has type T | MM_REPLY_FLAG. */
#define MM_CMD_INFO 0x01u
#define MM_CMD_INFER 0x02u
#define MM_CMD_BENCH 0x03u
#define MM_CMD_PROFILE 0x04u
/* Times a loop of exactly 2 x argument instructions: checks the tick conversion. */
#define MM_CMD_CALIBRATE 0x05u
/* Executes an undefined instruction: lets tests check that faults are reported. */
#define MM_CMD_CRASH 0x0Eu
#define MM_REPLY_FLAG 0x80u
#define MM_REPLY_ERROR 0x7Fu
#define MM_REPLY_FAULT 0x7Eu
/* Sent once at boot (payload: the build id), so a host that starts the board knows when it
 * listens. */
#define MM_REPLY_READY 0x7Du

/* Payload of an ERROR reply: one code byte, then a short ASCII message. */
#define MM_ERR_BAD_SYNC 1u    /* bytes that do not start with the magic */
#define MM_ERR_TRUNCATED 2u   /* the line went idle in the middle of a frame */
#define MM_ERR_TOO_LONG 3u    /* length field above the largest payload the firmware takes */
#define MM_ERR_BAD_CRC 4u     /* CRC mismatch */
#define MM_ERR_BAD_COMMAND 5u /* unknown request type */
#define MM_ERR_BAD_LENGTH 6u  /* payload length wrong for this request */
#define MM_ERR_BAD_ARGUMENT 7u
#define MM_ERR_MODEL 8u /* the model's init or invoke returned an error */

/* Requests that carry an input: a 4-byte argument (BENCH: number of runs), then the input. */
#define MM_ARGUMENT_BYTES 4u

uint32_t mm_crc32_update(uint32_t crc, const uint8_t *data, size_t length);

/* Replies are written in pieces so that large buffers (outputs) need no copy. */
void mm_reply_begin(uint8_t type, uint32_t payload_length);
void mm_reply_append(const void *data, size_t length);
void mm_reply_end(void);

void mm_reply_error(uint8_t code, const char *message);

#endif
