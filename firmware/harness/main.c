/* The harness firmware: serves INFO, INFER, BENCH and PROFILE requests over the board's UART
 * for the one model it is built with (docs/readme-firmware.md describes the protocol).
 *
 * Build-time configuration (board, UART, timer, model prefix, build id) arrives in the
 * force-included mm_build_config.h written by `mcu-mobilenet build`. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mm_board.h"
#include "mm_protocol.h"
#include "mm_startup.h"
#include MM_MODEL_HEADER

#define MM_PASTE(a, b) a##b
#define MM_GLUE(a, b) MM_PASTE(a, b)
#define MODEL_FUNCTION(name) MM_GLUE(MM_MODEL_PREFIX, name)
#define MODEL_CONSTANT(name) MM_GLUE(MM_MODEL_PREFIX_UPPER, name)

/* int8_t, or float for a model with float input or output (QUANTIZE / DEQUANTIZE at its
 * edges): the protocol carries the tensors' bytes either way. */
typedef MODEL_FUNCTION(_input_t) input_t;
typedef MODEL_FUNCTION(_output_t) output_t;

#define INPUT_SIZE MODEL_CONSTANT(_INPUT_SIZE)
#define OUTPUT_SIZE MODEL_CONSTANT(_OUTPUT_SIZE)
#define LAYER_COUNT MODEL_CONSTANT(_LAYER_COUNT)
#define MAX_PAYLOAD (MM_ARGUMENT_BYTES + INPUT_SIZE)
#define MAX_BENCH_RUNS 101u
#define BYTE_TIMEOUT_TICKS ((uint64_t)MM_TIMER_HZ * MM_BYTE_TIMEOUT_MS / 1000u)

typedef struct {
    uint8_t type;
    uint32_t payload_length;
    uint32_t argument; /* first 4 payload bytes, little-endian, when present */
} request_t;

typedef struct {
    uint64_t total_ticks;
    uint32_t stack_used;
} run_result_t;

static output_t output[OUTPUT_SIZE / sizeof(output_t)];
static uint64_t layer_end_ticks[LAYER_COUNT];
static bool recording_layers;
static int init_status;

void mm_harness_layer_done(int layer_index, const void *layer_output, size_t output_bytes)
{
    (void)layer_output;
    (void)output_bytes;
    if (recording_layers && layer_index >= 0 && layer_index < LAYER_COUNT) {
        layer_end_ticks[layer_index] = mm_timer_now();
    }
}

static uint32_t read_le32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) |
           ((uint32_t)bytes[3] << 24);
}

static void append_u8(uint8_t value)
{
    mm_reply_append(&value, 1u);
}

static void append_u16(uint16_t value)
{
    const uint8_t bytes[2] = {(uint8_t)value, (uint8_t)(value >> 8)};
    mm_reply_append(bytes, sizeof bytes);
}

static void append_u32(uint32_t value)
{
    const uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                              (uint8_t)(value >> 24)};
    mm_reply_append(bytes, sizeof bytes);
}

static void append_u64(uint64_t value)
{
    append_u32((uint32_t)value);
    append_u32((uint32_t)(value >> 32));
}

static void append_f32(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    append_u32(bits);
}

/* Strings travel as one length byte and at most 255 characters. */
static uint32_t string_bytes(const char *text)
{
    size_t length = strlen(text);
    return 1u + (uint32_t)(length > 255u ? 255u : length);
}

static void append_string(const char *text)
{
    uint32_t length = string_bytes(text) - 1u;
    append_u8((uint8_t)length);
    mm_reply_append(text, length);
}

/* A few hundred instructions between two polls of the UART and the timer. Emulators run
 * plain instructions fast but every register access slowly, so this makes the virtual clock,
 * and with it the byte timeout, advance about ten times faster in host time. On a real board
 * it is far shorter than one byte at 115200 baud (87 us). */
static void pause_between_polls(void)
{
    for (uint32_t i = 0; i < 128u; ++i) {
        __asm__ volatile("");
    }
}

static bool read_byte_before_timeout(uint8_t *byte)
{
    uint64_t start = mm_timer_now();
    while (!mm_uart_try_read(byte)) {
        if (mm_timer_now() - start > BYTE_TIMEOUT_TICKS) {
            return false;
        }
        pause_between_polls();
    }
    return true;
}

/* Drops whatever is still arriving, so the reply to a bad frame is not followed by errors
 * about the rest of it. */
static void discard_until_idle(void)
{
    uint8_t byte;
    while (read_byte_before_timeout(&byte)) {
    }
}

/* Receives one frame. The first 4 payload bytes go to request->argument, the rest straight
 * into the model's input slot (no extra buffer). Returns 0 or an MM_ERR_* code. */
static uint8_t receive_request(request_t *request)
{
    uint8_t byte;
    while (!mm_uart_try_read(&byte)) {
    }
    if (byte != MM_MAGIC_0) {
        discard_until_idle();
        return MM_ERR_BAD_SYNC;
    }
    if (!read_byte_before_timeout(&byte)) {
        return MM_ERR_TRUNCATED;
    }
    if (byte != MM_MAGIC_1) {
        discard_until_idle();
        return MM_ERR_BAD_SYNC;
    }
    uint8_t header[5];
    for (size_t i = 0; i < sizeof header; ++i) {
        if (!read_byte_before_timeout(&header[i])) {
            return MM_ERR_TRUNCATED;
        }
    }
    request->type = header[0];
    request->payload_length = read_le32(&header[1]);
    if (request->payload_length > MAX_PAYLOAD) {
        discard_until_idle();
        return MM_ERR_TOO_LONG;
    }
    uint32_t crc = mm_crc32_update(0u, header, sizeof header);
    uint8_t argument[MM_ARGUMENT_BYTES] = {0u, 0u, 0u, 0u};
    uint8_t *input = (uint8_t *)MODEL_FUNCTION(_input_buffer)();
    for (uint32_t i = 0; i < request->payload_length; ++i) {
        if (!read_byte_before_timeout(&byte)) {
            return MM_ERR_TRUNCATED;
        }
        crc = mm_crc32_update(crc, &byte, 1u);
        if (i < MM_ARGUMENT_BYTES) {
            argument[i] = byte;
        } else {
            input[i - MM_ARGUMENT_BYTES] = byte;
        }
    }
    uint8_t received_crc[MM_CRC_BYTES];
    for (size_t i = 0; i < sizeof received_crc; ++i) {
        if (!read_byte_before_timeout(&received_crc[i])) {
            return MM_ERR_TRUNCATED;
        }
    }
    if (read_le32(received_crc) != crc) {
        discard_until_idle();
        return MM_ERR_BAD_CRC;
    }
    request->argument = read_le32(argument);
    return 0u;
}

static uint32_t stack_high_water_bytes(void)
{
    const uint32_t *word = __stack_bottom;
    while (word < __stack_top && *word == MM_STACK_PAINT) {
        ++word;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)word);
}

static uint32_t tensor_info_bytes(size_t rank)
{
    return 4u + 1u + 4u * (uint32_t)rank + 4u + 4u;
}

static void append_tensor_info(uint32_t size, const uint32_t *dims, size_t rank, float scale,
                               int32_t zero_point)
{
    append_u32(size);
    append_u8((uint8_t)rank);
    for (size_t i = 0; i < rank; ++i) {
        append_u32(dims[i]);
    }
    append_f32(scale);
    append_u32((uint32_t)zero_point);
}

static void serve_info(void)
{
    static const uint32_t input_dims[] = MODEL_CONSTANT(_INPUT_DIMS);
    static const uint32_t output_dims[] = MODEL_CONSTANT(_OUTPUT_DIMS);
    const size_t input_rank = sizeof input_dims / sizeof input_dims[0];
    const size_t output_rank = sizeof output_dims / sizeof output_dims[0];
    const char *const prefix = MM_MODEL_PREFIX_STRING;

    uint32_t length = 1u + string_bytes(MM_BOARD_NAME) + string_bytes(MM_BUILD_ID) +
                      string_bytes(prefix) + string_bytes(MM_TIMER_KIND) + 4u * 7u + 4u +
                      tensor_info_bytes(input_rank) + tensor_info_bytes(output_rank) + 2u;
    for (size_t i = 0; i < LAYER_COUNT; ++i) {
        length += string_bytes(MODEL_FUNCTION(_layer_names)[i]);
    }
    mm_reply_begin(MM_CMD_INFO | MM_REPLY_FLAG, length);
    append_u8(MM_PROTOCOL_VERSION);
    append_string(MM_BOARD_NAME);
    append_string(MM_BUILD_ID);
    append_string(prefix);
    append_string(MM_TIMER_KIND);
    append_u32(MM_TIMER_HZ);
    append_u32(MAX_PAYLOAD);
    append_u32(MM_BYTE_TIMEOUT_MS);
    append_u32(MODEL_CONSTANT(_ARENA_SIZE));
    append_u32(MODEL_CONSTANT(_SCRATCH_SIZE));
    append_u32(MODEL_CONSTANT(_WEIGHTS_SIZE));
    append_u32((uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom));
    append_u32((uint32_t)init_status);
    append_tensor_info(INPUT_SIZE, input_dims, input_rank, MODEL_CONSTANT(_INPUT_SCALE),
                       MODEL_CONSTANT(_INPUT_ZERO_POINT));
    append_tensor_info(OUTPUT_SIZE, output_dims, output_rank, MODEL_CONSTANT(_OUTPUT_SCALE),
                       MODEL_CONSTANT(_OUTPUT_ZERO_POINT));
    append_u16((uint16_t)LAYER_COUNT);
    for (size_t i = 0; i < LAYER_COUNT; ++i) {
        append_string(MODEL_FUNCTION(_layer_names)[i]);
    }
    mm_reply_end();
}

/* One inference on whatever is in the input slot. Returns the model's status. */
static int run_once(bool record_layers, run_result_t *result)
{
    input_t *input = MODEL_FUNCTION(_input_buffer)();
    recording_layers = record_layers;
    uint64_t start = mm_timer_now();
    int status = MODEL_FUNCTION(_invoke)(input, output);
    uint64_t end = mm_timer_now();
    recording_layers = false;
    if (record_layers) {
        for (size_t i = LAYER_COUNT; i-- > 1u;) {
            layer_end_ticks[i] -= layer_end_ticks[i - 1u];
        }
        if (LAYER_COUNT > 0) {
            layer_end_ticks[0] -= start;
        }
    }
    result->total_ticks = end - start;
    result->stack_used = stack_high_water_bytes();
    return status;
}

static void serve_infer(bool profile)
{
    run_result_t result;
    if (init_status != 0 || run_once(profile, &result) != 0) {
        mm_reply_error(MM_ERR_MODEL, "model init or invoke failed");
        return;
    }
    uint8_t type = profile ? (MM_CMD_PROFILE | MM_REPLY_FLAG) : (MM_CMD_INFER | MM_REPLY_FLAG);
    uint32_t length = 8u + 4u + (profile ? 2u + 8u * LAYER_COUNT : 0u) + OUTPUT_SIZE;
    mm_reply_begin(type, length);
    append_u64(result.total_ticks);
    append_u32(result.stack_used);
    if (profile) {
        append_u16((uint16_t)LAYER_COUNT);
        for (size_t i = 0; i < LAYER_COUNT; ++i) {
            append_u64(layer_end_ticks[i]);
        }
    }
    mm_reply_append(output, OUTPUT_SIZE);
    mm_reply_end();
}

/* Runs 2..n reuse whatever the model left in the input slot: the kernels' instruction counts
 * do not depend on the values, and keeping a copy of the input would cost its size in RAM. */
static void serve_bench(uint32_t runs)
{
    static uint64_t ticks[MAX_BENCH_RUNS];
    if (runs == 0u || runs > MAX_BENCH_RUNS) {
        mm_reply_error(MM_ERR_BAD_ARGUMENT, "BENCH runs must be 1 to 101");
        return;
    }
    run_result_t result;
    for (uint32_t run = 0; run < runs; ++run) {
        if (init_status != 0 || run_once(false, &result) != 0) {
            mm_reply_error(MM_ERR_MODEL, "model init or invoke failed");
            return;
        }
        /* Insertion into the sorted prefix keeps the median at hand. */
        uint32_t slot = run;
        while (slot > 0u && ticks[slot - 1u] > result.total_ticks) {
            ticks[slot] = ticks[slot - 1u];
            --slot;
        }
        ticks[slot] = result.total_ticks;
    }
    mm_reply_begin(MM_CMD_BENCH | MM_REPLY_FLAG, 4u + 3u * 8u + 4u);
    append_u32(runs);
    append_u64(ticks[0]);
    append_u64(ticks[runs / 2u]);
    append_u64(ticks[runs - 1u]);
    append_u32(result.stack_used);
    mm_reply_end();
}

/* `subs` and `bne` per iteration: 2 x iterations instructions between the two timer reads,
 * plus the reads themselves. */
static void serve_calibrate(uint32_t iterations)
{
    if (iterations == 0u) {
        mm_reply_error(MM_ERR_BAD_ARGUMENT, "CALIBRATE needs at least one iteration");
        return;
    }
    uint64_t start = mm_timer_now();
    __asm__ volatile("1:\n\t"
                     "subs %0, %0, #1\n\t"
                     "bne 1b"
                     : "+r"(iterations)
                     :
                     : "cc");
    uint64_t end = mm_timer_now();
    mm_reply_begin(MM_CMD_CALIBRATE | MM_REPLY_FLAG, 8u);
    append_u64(end - start);
    mm_reply_end();
}

static void serve(const request_t *request)
{
    const bool with_input = request->payload_length == MAX_PAYLOAD;
    switch (request->type) {
    case MM_CMD_INFO:
        if (request->payload_length != 0u) {
            mm_reply_error(MM_ERR_BAD_LENGTH, "INFO takes no payload");
        } else {
            serve_info();
        }
        return;
    case MM_CMD_INFER:
    case MM_CMD_PROFILE:
        if (!with_input) {
            mm_reply_error(MM_ERR_BAD_LENGTH, "payload must be 4 argument bytes and the input");
        } else {
            serve_infer(request->type == MM_CMD_PROFILE);
        }
        return;
    case MM_CMD_BENCH:
        if (!with_input) {
            mm_reply_error(MM_ERR_BAD_LENGTH, "payload must be 4 argument bytes and the input");
        } else {
            serve_bench(request->argument);
        }
        return;
    case MM_CMD_CALIBRATE:
        if (request->payload_length != MM_ARGUMENT_BYTES) {
            mm_reply_error(MM_ERR_BAD_LENGTH, "CALIBRATE takes a 4-byte iteration count");
        } else {
            serve_calibrate(request->argument);
        }
        return;
    case MM_CMD_CRASH:
        __asm__ volatile("udf #0");
        return;
    default:
        mm_reply_error(MM_ERR_BAD_COMMAND, "unknown request type");
        return;
    }
}

static const char *error_message(uint8_t code)
{
    switch (code) {
    case MM_ERR_BAD_SYNC:
        return "frame does not start with the magic bytes";
    case MM_ERR_TRUNCATED:
        return "frame truncated: the line went idle before its end";
    case MM_ERR_TOO_LONG:
        return "payload longer than the firmware accepts";
    default:
        return "CRC mismatch";
    }
}

int main(void)
{
    mm_uart_init();
    mm_timer_init();
    init_status = MODEL_FUNCTION(_init)();
    mm_reply_begin(MM_REPLY_READY, (uint32_t)strlen(MM_BUILD_ID));
    mm_reply_append(MM_BUILD_ID, strlen(MM_BUILD_ID));
    mm_reply_end();
    for (;;) {
        request_t request;
        uint8_t error = receive_request(&request);
        if (error != 0u) {
            mm_reply_error(error, error_message(error));
        } else {
            serve(&request);
        }
    }
}
