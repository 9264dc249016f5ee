/* SPDX-License-Identifier: Apache-2.0 */
/* The harness firmware: serves INFO, LOAD, INFER, BENCH, PROFILE and CALIBRATE requests over
 * the board's UART for the one model it is built with (mm_protocol.h describes the protocol).
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
#define MAX_BENCH_RUNS 101u

typedef struct {
    uint64_t total_ticks;
    uint32_t stack_used;
} run_result_t;

static output_t output[OUTPUT_SIZE / sizeof(output_t)];
static uint64_t layer_end_ticks[LAYER_COUNT];
static bool recording_layers;
static int init_status;
/* Bytes of the input slot filled by LOADs since the last inference (which overwrites the
 * slot: it is part of the arena). */
static uint32_t loaded_bytes;

void mm_harness_layer_done(int layer_index, const void *layer_output, size_t output_bytes)
{
    (void)layer_output;
    (void)output_bytes;
    if (recording_layers && layer_index >= 0 && layer_index < LAYER_COUNT) {
        layer_end_ticks[layer_index] = mm_timer_now();
    }
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

/* LOAD data goes straight into the model's input slot in the arena: the harness keeps no copy
 * of the input. Bytes of a frame that fails its checks may land there too; loaded_bytes then
 * goes back to 0, so an inference never runs on them. */
static void store_input_byte(const mm_request_t *request, uint32_t index, uint8_t byte)
{
    if (request->type != MM_CMD_LOAD || request->argument >= INPUT_SIZE ||
        index >= INPUT_SIZE - request->argument) {
        return;
    }
    uint8_t *input = (uint8_t *)MODEL_FUNCTION(_input_buffer)();
    input[request->argument + index] = byte;
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
                      string_bytes(prefix) + string_bytes(MM_TIMER_KIND) + 4u * 6u + 4u +
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
    append_u32(MM_MAX_PAYLOAD);
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

/* LOADs fill the input slot in order: each continues where the last one ended, or starts
 * again at 0. The reply gives the bytes loaded so far. */
static void serve_load(const mm_request_t *request)
{
    const uint32_t offset = request->argument;
    if (request->payload_length <= MM_ARGUMENT_BYTES) {
        mm_reply_error(MM_ERR_BAD_LENGTH, "LOAD takes an offset and at least one byte");
        return;
    }
    const uint32_t length = request->payload_length - MM_ARGUMENT_BYTES;
    if (offset != 0u && offset != loaded_bytes) {
        loaded_bytes = 0u;
        mm_reply_error(MM_ERR_BAD_ARGUMENT, "LOAD must start at 0 or where the last one ended");
        return;
    }
    if (offset >= INPUT_SIZE || length > INPUT_SIZE - offset) {
        loaded_bytes = 0u;
        mm_reply_error(MM_ERR_BAD_ARGUMENT, "LOAD goes past the end of the input");
        return;
    }
    loaded_bytes = offset + length;
    mm_reply_begin(MM_CMD_LOAD | MM_REPLY_FLAG, 4u);
    append_u32(loaded_bytes);
    mm_reply_end();
}

/* INFER, PROFILE and BENCH run on the loaded input; the inference overwrites it. */
static void serve_inference(const mm_request_t *request)
{
    if (request->payload_length != MM_ARGUMENT_BYTES) {
        mm_reply_error(MM_ERR_BAD_LENGTH, "INFER, PROFILE and BENCH take a 4-byte argument");
        return;
    }
    if (loaded_bytes != INPUT_SIZE) {
        mm_reply_error(MM_ERR_NO_INPUT, "the input is not loaded: LOAD all of it first");
        return;
    }
    loaded_bytes = 0u;
    if (request->type == MM_CMD_BENCH) {
        serve_bench(request->argument);
    } else {
        serve_infer(request->type == MM_CMD_PROFILE);
    }
}

static void serve(const mm_request_t *request)
{
    switch (request->type) {
    case MM_CMD_INFO:
        if (request->payload_length != 0u) {
            mm_reply_error(MM_ERR_BAD_LENGTH, "INFO takes no payload");
        } else {
            serve_info();
        }
        return;
    case MM_CMD_LOAD:
        serve_load(request);
        return;
    case MM_CMD_INFER:
    case MM_CMD_PROFILE:
    case MM_CMD_BENCH:
        serve_inference(request);
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

static const char *frame_error_message(uint8_t code)
{
    switch (code) {
    case MM_ERR_BAD_SYNC:
        return "frame does not start with the magic bytes";
    case MM_ERR_TRUNCATED:
        return "frame ended before its length field said";
    case MM_ERR_TOO_LONG:
        return "payload longer than the firmware accepts";
    case MM_ERR_BAD_LENGTH:
        return "frame goes on past its length field";
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
        mm_request_t request;
        uint8_t error = mm_receive_request(&request, store_input_byte);
        if (error != 0u) {
            loaded_bytes = 0u; /* its bytes may have gone into the input slot */
            mm_reply_error(error, frame_error_message(error));
        } else {
            serve(&request);
        }
    }
}
