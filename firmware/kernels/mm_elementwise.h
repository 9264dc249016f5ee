/* SPDX-License-Identifier: Apache-2.0 */
/* Element-wise int8 kernels (portable C99): ADD, PAD and the conversions at a model's edges.
 * Element-wise kernels read element i before writing element i, so output may equal input.
 */
#ifndef MM_ELEMENTWISE_H
#define MM_ELEMENTWISE_H

#include "mm_types.h"

/* TFLM's reference int8 Add of two tensors of the same shape (no broadcasting). */
void mm_add_s8(const mm_add_params *params, int32_t size, const int8_t *input1,
               const int8_t *input2, int8_t *output);

/* PAD of an NHWC tensor with params->value (TFLM pads int8 with the output zero point). */
void mm_pad_s8(const mm_pad_params *params, const mm_dims *input_dims, const int8_t *input,
               const mm_dims *output_dims, int8_t *output);

/* float32 -> int8: round(x / scale) + zero point, ties away from zero, saturated (QUANTIZE). */
void mm_quantize_f32_s8(const mm_affine_params *params, int32_t size, const float *input,
                        int8_t *output);

/* int8 -> float32: scale * (q - zero point), computed in double as TFLM does (DEQUANTIZE). */
void mm_dequantize_s8_f32(const mm_affine_params *params, int32_t size, const int8_t *input,
                          float *output);

/* int8 -> int8 with another scale and zero point (QUANTIZE between int8 tensors). */
void mm_requantize_s8(const mm_requantize_params *params, int32_t size, const int8_t *input,
                      int8_t *output);

#endif /* MM_ELEMENTWISE_H */
