/* SPDX-License-Identifier: Apache-2.0 */
/* Host runner for `mcu-mobilenet validate --target host`.
 *
 *   host_runner INPUTS OUTPUTS [TRACE]
 *
 * INPUTS holds whole inputs back to back; each is run and its output appended to OUTPUTS.
 * With TRACE, every layer's output of the first input is written there as records of
 * (int32 layer index, int32 byte count, bytes). Built with the model by the validate command:
 * -DMM_MODEL_HEADER="<prefix>_model.h" -DMM_PREFIX=<prefix> -include host_trace.h
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include MM_MODEL_HEADER

#define MM_CONCAT_(a, b) a##b
#define MM_CONCAT(a, b) MM_CONCAT_(a, b)
#define MM_FN(name) MM_CONCAT(MM_PREFIX, name)
#define MM_UPPER(name) MM_CONCAT(MM_PREFIX_UPPER, name)

static FILE *trace_file;

void host_trace(int layer, const void *data, int bytes)
{
    if (trace_file != NULL) {
        const int header[2] = {layer, bytes};
        fwrite(header, sizeof header, 1, trace_file);
        fwrite(data, 1, (size_t)bytes, trace_file);
    }
}

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "host_runner: %s %s\n", what, path);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s INPUTS OUTPUTS [TRACE]\n", argv[0]);
        return 2;
    }
    FILE *inputs = fopen(argv[1], "rb");
    if (inputs == NULL) {
        return fail("cannot read", argv[1]);
    }
    FILE *outputs = fopen(argv[2], "wb");
    if (outputs == NULL) {
        return fail("cannot write", argv[2]);
    }
    if (argc == 4 && (trace_file = fopen(argv[3], "wb")) == NULL) {
        return fail("cannot write", argv[3]);
    }
    /* Heap buffers of exactly the model's sizes, so the sanitizer sees any overrun. */
    unsigned char *input = malloc(MM_UPPER(_INPUT_SIZE));
    unsigned char *output = malloc(MM_UPPER(_OUTPUT_SIZE));
    if (input == NULL || output == NULL || MM_FN(_init)() != 0) {
        return fail("cannot initialise the model", "");
    }
    while (fread(input, 1, MM_UPPER(_INPUT_SIZE), inputs) == MM_UPPER(_INPUT_SIZE)) {
        if (MM_FN(_invoke)((const void *)input, (void *)output) != 0) {
            return fail("invoke failed on an input of", argv[1]);
        }
        fwrite(output, 1, MM_UPPER(_OUTPUT_SIZE), outputs);
        if (trace_file != NULL) {
            fclose(trace_file);
            trace_file = NULL;
        }
    }
    free(input);
    free(output);
    fclose(inputs);
    return fclose(outputs) == 0 ? 0 : fail("cannot finish writing", argv[2]);
}
