# SPDX-License-Identifier: Apache-2.0
"""The built-in synthetic data set: small striped discs whose stripe orientation is the class.

Each image shows a disc (36-60% of the image wide) at a random place on a cluttered
background (a brightness gradient, three soft blobs, sensor noise), filled with a sine
grating; the class is the grating's orientation (0, 45, 90 or 135 degrees, +-7 degrees).
The stripe period varies from 5% to 20% of the image width, so at 32x32 the finer
gratings are one or two pixels wide and blur away or alias, while at 96x96 every one is
resolved: accuracy grows with the input resolution, as in the paper's resolution table.

Scenes are defined in continuous image coordinates and rendered by supersampling and box
averaging (as a sensor integrates light), so one sample is the same scene at any resolution.
Sample i of a stream comes from its own seeded generator: the data set is reproducible,
independent of how many samples are asked for, and needs no files. The training and
held-out streams never share a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("stripes_0", "stripes_45", "stripes_90", "stripes_135")
SEED = 20170417  # the MobileNets paper's arXiv date
TRAIN_STREAM, HELD_OUT_STREAM = 0, 1
SUPERSAMPLED_SIZE = 128  # rendering grid at least this wide before box averaging
BLOBS = 3
NOISE_SIGMA = 0.04


@dataclass(frozen=True)
class Scene:
    label: int
    orientation: float  # radians
    period: float  # in image widths
    phase: float
    contrast: float
    radius: float
    center: tuple[float, float]
    tint: tuple[float, float, float]
    gradient: tuple[float, float]
    blobs: tuple[tuple[float, float, float, float], ...]  # x, y, size, brightness
    noise_seed: int


def make_scene(stream: int, index: int) -> Scene:
    rng = np.random.default_rng([SEED, stream, index])
    label = int(rng.integers(len(CLASS_NAMES)))
    return Scene(
        label=label,
        orientation=label * math.pi / len(CLASS_NAMES) + rng.uniform(-0.12, 0.12),
        period=math.exp(rng.uniform(math.log(0.05), math.log(0.2))),
        phase=rng.uniform(0.0, 2 * math.pi),
        contrast=rng.uniform(0.5, 1.0),
        radius=rng.uniform(0.18, 0.3),
        center=(rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75)),
        tint=tuple(rng.uniform(0.2, 0.8, 3)),
        gradient=tuple(rng.uniform(-0.2, 0.2, 2)),
        blobs=tuple(tuple(blob) for blob in rng.uniform(0.1, 0.9, (BLOBS, 4))),
        noise_seed=int(rng.integers(2**31)),
    )


def render(scenes: list[Scene], resolution: int, channels: int) -> np.ndarray:
    """uint8 images [N, resolution, resolution, channels] of `scenes`."""
    factor = max(1, math.ceil(SUPERSAMPLED_SIZE / resolution))
    size = resolution * factor
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    x, y = grid[np.newaxis, :], grid[:, np.newaxis]
    images = np.empty((len(scenes), resolution, resolution, channels), np.uint8)
    for n, scene in enumerate(scenes):
        luminance = _background(scene, x, y)
        distance = np.hypot(x - scene.center[0], y - scene.center[1])
        # Soft edge one output pixel wide, so the disc itself does not alias.
        disc = np.clip((scene.radius - distance) * resolution, 0.0, 1.0)
        along = x * math.cos(scene.orientation) + y * math.sin(scene.orientation)
        wave = np.sin(2 * math.pi * along / scene.period + scene.phase)
        grating = 0.5 + 0.5 * scene.contrast * wave
        luminance = luminance * (1 - disc) + grating * disc
        pixels = luminance.reshape(resolution, factor, resolution, factor).mean(axis=(1, 3))
        if channels == 3:
            pixels = pixels[..., np.newaxis] * (0.5 + np.asarray(scene.tint)) * 0.8
        else:
            pixels = pixels[..., np.newaxis]
        noise = np.random.default_rng(scene.noise_seed).normal(0.0, NOISE_SIGMA, pixels.shape)
        images[n] = np.clip((pixels + noise) * 255 + 0.5, 0, 255).astype(np.uint8)
    return images


def _background(scene: Scene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    luminance = 0.5 + scene.gradient[0] * (x - 0.5) + scene.gradient[1] * (y - 0.5)
    for blob_x, blob_y, blob_size, brightness in scene.blobs:
        spread = (0.05 + 0.15 * blob_size) ** 2
        luminance = luminance + 0.6 * (brightness - 0.5) * np.exp(
            -((x - blob_x) ** 2 + (y - blob_y) ** 2) / spread
        )
    return luminance


def synthetic_images(
    stream: int, count: int, resolution: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, int64 labels) of the first `count` samples of `stream`."""
    scenes = [make_scene(stream, index) for index in range(count)]
    labels = np.asarray([scene.label for scene in scenes], dtype=np.int64)
    return render(scenes, resolution, channels), labels
