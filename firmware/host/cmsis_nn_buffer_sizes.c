/* SPDX-License-Identifier: Apache-2.0 */
/* Asks CMSIS-NN itself how much scratch its kernels need, for each of its code paths.
 *
 * Built and run on the host by the compiler (mcu_mobilenet/compiler/backends/cmsis_nn_buffers.py)
 * against the CMSIS-NN sources in use. Reads one query per line on stdin and prints one size in
 * bytes per line:
 *
 *   conv      PATH in_off out_off stride_w stride_h pad_w pad_h dil_w dil_h act_min act_max
 *             INPUT_DIMS FILTER_DIMS OUTPUT_DIMS
 *   depthwise PATH in_off out_off ch_mult stride_w stride_h pad_w pad_h dil_w dil_h act_min act_max
 *             INPUT_DIMS FILTER_DIMS OUTPUT_DIMS
 *   avgpool   PATH output_width channels
 *   fc        PATH FILTER_DIMS
 *
 * where each *_DIMS is four integers n h w c, and PATH is plain, dsp or mve. The host build
 * defines neither ARM_MATH_DSP nor ARM_MATH_MVEI, so CMSIS-NN's unsuffixed functions answer for
 * its plain C path, and its _dsp and _mve functions (meant for this host-side use) for the
 * other two.
 */
#include <stdio.h>
#include <string.h>

#include "arm_nnfunctions.h"

#if defined(ARM_MATH_DSP) || defined(ARM_MATH_MVEI)
#error "build this helper for the host: it must see CMSIS-NN's plain C path"
#endif

enum code_path {
    PATH_PLAIN,
    PATH_DSP,
    PATH_MVE,
    PATH_UNKNOWN
};

static enum code_path parse_path(const char *name)
{
    if (strcmp(name, "plain") == 0) {
        return PATH_PLAIN;
    }
    if (strcmp(name, "dsp") == 0) {
        return PATH_DSP;
    }
    return strcmp(name, "mve") == 0 ? PATH_MVE : PATH_UNKNOWN;
}

static int read_ints(int32_t *values, int count)
{
    for (int i = 0; i < count; ++i) {
        long value;
        if (scanf("%ld", &value) != 1) {
            return 0;
        }
        values[i] = (int32_t)value;
    }
    return 1;
}

static cmsis_nn_dims dims_at(const int32_t *v)
{
    const cmsis_nn_dims dims = {v[0], v[1], v[2], v[3]};
    return dims;
}

static int32_t conv_size(enum code_path path)
{
    int32_t v[22];
    if (!read_ints(v, 22)) {
        return -1;
    }
    const cmsis_nn_conv_params params = {
        v[0], v[1], {v[2], v[3]}, {v[4], v[5]}, {v[6], v[7]}, {v[8], v[9]}};
    const cmsis_nn_dims input = dims_at(v + 10), filter = dims_at(v + 14), output = dims_at(v + 18);
    switch (path) {
    case PATH_PLAIN:
        return arm_convolve_wrapper_s8_get_buffer_size(&params, &input, &filter, &output);
    case PATH_DSP:
        return arm_convolve_wrapper_s8_get_buffer_size_dsp(&params, &input, &filter, &output);
    default:
        return arm_convolve_wrapper_s8_get_buffer_size_mve(&params, &input, &filter, &output);
    }
}

static int32_t depthwise_size(enum code_path path)
{
    int32_t v[23];
    if (!read_ints(v, 23)) {
        return -1;
    }
    const cmsis_nn_dw_conv_params params = {
        v[0], v[1], v[2], {v[3], v[4]}, {v[5], v[6]}, {v[7], v[8]}, {v[9], v[10]}};
    const cmsis_nn_dims input = dims_at(v + 11), filter = dims_at(v + 15), output = dims_at(v + 19);
    switch (path) {
    case PATH_PLAIN:
        return arm_depthwise_conv_wrapper_s8_get_buffer_size(&params, &input, &filter, &output);
    case PATH_DSP:
        return arm_depthwise_conv_wrapper_s8_get_buffer_size_dsp(&params, &input, &filter, &output);
    default:
        return arm_depthwise_conv_wrapper_s8_get_buffer_size_mve(&params, &input, &filter, &output);
    }
}

static int32_t avgpool_size(enum code_path path)
{
    int32_t v[2];
    if (!read_ints(v, 2)) {
        return -1;
    }
    switch (path) {
    case PATH_PLAIN:
        return arm_avgpool_s8_get_buffer_size(v[0], v[1]);
    case PATH_DSP:
        return arm_avgpool_s8_get_buffer_size_dsp(v[0], v[1]);
    default:
        return arm_avgpool_s8_get_buffer_size_mve(v[0], v[1]);
    }
}

static int32_t fully_connected_size(enum code_path path)
{
    int32_t v[4];
    if (!read_ints(v, 4)) {
        return -1;
    }
    const cmsis_nn_dims filter = dims_at(v);
    switch (path) {
    case PATH_PLAIN:
        return arm_fully_connected_s8_get_buffer_size(&filter);
    case PATH_DSP:
        return arm_fully_connected_s8_get_buffer_size_dsp(&filter);
    default:
        return arm_fully_connected_s8_get_buffer_size_mve(&filter);
    }
}

int main(void)
{
    char kind[16], path_name[16];
    int line = 0;
    while (scanf("%15s %15s", kind, path_name) == 2) {
        ++line;
        const enum code_path path = parse_path(path_name);
        int32_t size = -1;
        if (path == PATH_UNKNOWN) {
            size = -1;
        } else if (strcmp(kind, "conv") == 0) {
            size = conv_size(path);
        } else if (strcmp(kind, "depthwise") == 0) {
            size = depthwise_size(path);
        } else if (strcmp(kind, "avgpool") == 0) {
            size = avgpool_size(path);
        } else if (strcmp(kind, "fc") == 0) {
            size = fully_connected_size(path);
        }
        if (size < 0) {
            fprintf(stderr, "cmsis_nn_buffer_sizes: bad query %d (%s %s)\n", line, kind, path_name);
            return 1;
        }
        printf("%ld\n", (long)size);
    }
    return 0;
}
