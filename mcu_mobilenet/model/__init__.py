# SPDX-License-Identifier: Apache-2.0
"""The MobileNetV1 family: spec, paper counts, Keras builder, data, training, quantization."""
