/* SPDX-License-Identifier: Apache-2.0 */
/* Forced into the model's translation unit by the host build: layer outputs go to the trace. */
#ifndef HOST_TRACE_H
#define HOST_TRACE_H

void host_trace(int layer, const void *data, int bytes);
#define MM_LAYER_HOOK(index, data, bytes) host_trace((index), (data), (bytes))

#endif /* HOST_TRACE_H */
