# SPDX-License-Identifier: Apache-2.0
"""Trains a Keras 3 classifier on a DataSplit: Adam, cosine-decayed learning rate, progress
on stderr, held-out accuracy after every epoch.

The loop is a small tf.function step rather than `Model.fit`: on these 2-core machines
Keras 3's fit and optimizers spend 8-12 s tracing a MobileNet's ~80 variables before the
first step; this step, with one fused Adam kernel per variable, about 3 s, which matters
for the many short runs that tests make.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from mcu_mobilenet.model.data import DataSplit, ImageSet, Log, log_to_stderr, to_model_input

ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-7
PREDICT_BATCH = 64
RECALIBRATION_IMAGES = 128


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.005
    seed: int = 0


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    loss: float
    accuracy: float
    held_out_loss: float
    held_out_accuracy: float
    seconds: float
    images_per_second: float

    def as_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Same seed, same weights and batches: TensorFlow's deterministic ops where it has them."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_classifier(
    model, data: DataSplit, settings: TrainSettings, log: Log = log_to_stderr
) -> list[EpochMetrics]:
    """Trains `model` (a Keras 3 model ending in softmax) in place; returns per-epoch metrics."""
    import tensorflow as tf

    train = data.train
    batch_size = min(settings.batch_size, len(train))
    steps_per_epoch = len(train) // batch_size  # partial batches dropped: one traced shape
    total_steps = steps_per_epoch * settings.epochs
    variables = model.trainable_variables
    optimizer = _Adam(variables, settings.learning_rate, total_steps)

    @tf.function(autograph=False)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            loss = tf.reduce_mean(_cross_entropy(labels, probabilities))
        optimizer.apply(tape.gradient(loss, variables), variables)
        hits = tf.cast(tf.argmax(probabilities, axis=-1) == labels, tf.float32)
        return loss, tf.reduce_mean(hits)

    batches = (
        tf.data.Dataset.from_tensor_slices((train.images, train.labels))
        .shuffle(len(train), seed=settings.seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(lambda images, labels: (tf.cast(images, tf.float32) / 127.5 - 1.0, labels))
    )
    history = []
    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        losses, accuracies = [], []
        for step, (images, labels) in enumerate(batches, start=1):
            loss, accuracy = train_step(images, labels)
            losses.append(float(loss))
            accuracies.append(float(accuracy))
            _show_step(epoch, settings.epochs, step, steps_per_epoch, losses, accuracies)
        seconds = time.perf_counter() - start
        recalibrate_batch_norm(model, train)
        held_out_loss, held_out_accuracy = evaluate_probabilities(
            predict_in_batches(lambda batch: model(batch, training=False), data.held_out),
            data.held_out,
        )
        metrics = EpochMetrics(
            epoch=epoch,
            loss=float(np.mean(losses)),
            accuracy=float(np.mean(accuracies)),
            held_out_loss=held_out_loss,
            held_out_accuracy=held_out_accuracy,
            seconds=round(seconds, 3),
            images_per_second=round(steps_per_epoch * batch_size / seconds, 1),
        )
        history.append(metrics)
        log(
            f"epoch {epoch}/{settings.epochs}: loss {metrics.loss:.4f}, accuracy "
            f"{metrics.accuracy:.4f}, held-out loss {held_out_loss:.4f}, held-out accuracy "
            f"{held_out_accuracy:.4f} ({metrics.images_per_second:.0f} images/s)"
        )
    return history


def recalibrate_batch_norm(model, images: ImageSet) -> None:
    """Sets every batch norm's moving statistics to the exact statistics of the first
    RECALIBRATION_IMAGES training images (in training mode, so dropout and all else as
    in a step). The moving averages start at mean 0 and variance 1 and forget that slowly;
    after a short run the deep layers' true variances are far smaller, and the network in
    inference mode then gives nearly the same output for every image."""
    norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        model(to_model_input(images.images[:RECALIBRATION_IMAGES]), training=True)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum


def predict_in_batches(forward, images: ImageSet) -> np.ndarray:
    """`forward` (float batch -> outputs, inference mode) over every image, in fixed-size
    batches with the last one padded, so a tf.function of it is traced once."""
    import tensorflow as tf

    traced = tf.function(forward)
    outputs = []
    for start in range(0, len(images), PREDICT_BATCH):
        batch = to_model_input(images.images[start : start + PREDICT_BATCH])
        real = len(batch)
        if real < PREDICT_BATCH:
            padding = np.zeros((PREDICT_BATCH - real, *batch.shape[1:]), np.float32)
            batch = np.concatenate([batch, padding])
        outputs.append(traced(tf.constant(batch)).numpy()[:real])
    return np.concatenate(outputs)


def evaluate_probabilities(probabilities: np.ndarray, images: ImageSet) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy)."""
    picked = probabilities[np.arange(len(images)), images.labels]
    loss = float(np.mean(-np.log(np.clip(picked, 1e-7, 1.0))))
    accuracy = float(np.mean(np.argmax(probabilities, axis=-1) == images.labels))
    return loss, accuracy


def _cross_entropy(labels, probabilities):
    import tensorflow as tf

    picked = tf.gather(probabilities, labels, axis=-1, batch_dims=1)
    return -tf.math.log(tf.clip_by_value(picked, 1e-7, 1.0))


def _show_step(epoch, epochs, step, steps, losses, accuracies) -> None:
    """A live progress line on a terminal; nothing in logs (the epoch line says it all)."""
    if not sys.stderr.isatty():
        return
    end = "\n" if step == steps else ""
    print(
        f"\repoch {epoch}/{epochs} step {step}/{steps}: loss {np.mean(losses):.4f}, "
        f"accuracy {np.mean(accuracies):.4f}\033[K",
        end=end,
        file=sys.stderr,
        flush=True,
    )


class _Adam:
    """Adam (Kingma and Ba, 2015) with a cosine decay of the learning rate to zero, one fused
    TensorFlow kernel (ResourceApplyAdam) per variable."""

    def __init__(self, variables, learning_rate: float, total_steps: int) -> None:
        import tensorflow as tf

        self.learning_rate = learning_rate
        self.total_steps = max(1, total_steps)
        self.step = tf.Variable(0.0, trainable=False, name="adam_step")
        self.first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def apply(self, gradients, variables) -> None:
        import tensorflow as tf

        step = self.step.assign_add(1.0)
        progress = tf.minimum(step / self.total_steps, 1.0)
        rate = self.learning_rate * 0.5 * (1.0 + tf.cos(math.pi * progress))
        for gradient, variable, first, second in zip(
            gradients, variables, self.first, self.second, strict=True
        ):
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(variable),
                m=first.handle,
                v=second.handle,
                beta1_power=ADAM_BETA1**step,
                beta2_power=ADAM_BETA2**step,
                lr=rate,
                beta1=ADAM_BETA1,
                beta2=ADAM_BETA2,
                epsilon=ADAM_EPSILON,
                grad=gradient,
            )


def _handle(variable):
    """The resource handle of a tf.Variable or of a Keras 3 variable wrapping one."""
    return getattr(variable, "value", variable).handle
