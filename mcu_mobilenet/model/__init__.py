"""The MobileNetV1 family: spec, paper counts, Keras builder, data, training, quantization."""
