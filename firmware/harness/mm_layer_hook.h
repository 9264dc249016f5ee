/* SPDX-License-Identifier: Apache-2.0 */
/* Force-included into every firmware source: makes the generated model call the harness
 * after each layer (MM_LAYER_HOOK in the generated model API), for per-layer timing. */
#ifndef MM_LAYER_HOOK_H
#define MM_LAYER_HOOK_H

#include <stddef.h>

void mm_harness_layer_done(int layer_index, const void *output, size_t output_bytes);

#define MM_LAYER_HOOK(index, output, bytes) mm_harness_layer_done((index), (output), (bytes))

#endif
