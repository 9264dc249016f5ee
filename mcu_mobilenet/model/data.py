# SPDX-License-Identifier: Apache-2.0
"""Labelled image sets for training, calibration and evaluation, from `--data SPEC`.

SPEC is one of:
- `synthetic` or `synthetic:N`: the built-in data set (see synthetic.py), N images in all
  (default 2000), of which the held-out share comes from a separate stream;
- a folder with one subfolder per class holding png, jpg or bmp images (grayscale or colour,
  converted to the model's channels and resized to its resolution);
- an `.npz` file with `images` (uint8, [N, H, W, C] or [N, H, W]) and `labels` (integers),
  already at the model's resolution and channels.

Folder and .npz sets are split the same way every time: per class, a fixed-seed shuffle
puts the last `held_out_fraction` of the images (at least one) in the held-out set.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model import synthetic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_SYNTHETIC_COUNT = 2000
SPLIT_SEED = 0
PROGRESS_EVERY = 1000

Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray  # int64 [N]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def first(self, count: int) -> ImageSet:
        return ImageSet(self.images[:count], self.labels[:count], self.class_names)


@dataclass(frozen=True)
class DataSplit:
    source: str
    train: ImageSet
    held_out: ImageSet

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.train.class_names

    def all_images(self) -> ImageSet:
        return ImageSet(
            np.concatenate([self.train.images, self.held_out.images]),
            np.concatenate([self.train.labels, self.held_out.labels]),
            self.class_names,
        )


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> the float range the models take, [-1, 1]."""
    return images.astype(np.float32) / 127.5 - 1.0


def quantize_input(real: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Real input values -> the int8 values of an input quantized with (scale, zero point)."""
    quantized = np.round(real / np.float32(scale)) + zero_point
    return np.clip(quantized, -128, 127).astype(np.int8)


MAX_IMAGE_PIXELS = 8192 * 8192  # checked from the header, before any pixel is decoded


def read_image(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    """One image file as uint8 [height, width, channels]: converted to gray or RGB, resized.
    Raises OSError or ValueError for an unreadable file or one over MAX_IMAGE_PIXELS."""

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(path)  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            opened = None
    if opened is None or opened.width * opened.height > MAX_IMAGE_PIXELS:
        size = "" if opened is None else f"{opened.width}x{opened.height}, "
        if opened is not None:
            opened.close()
        raise ValueError(f"{size}more than {MAX_IMAGE_PIXELS:,} pixels; resize it first")
    with opened as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8).reshape(height, width, channels)


def load_data(
    spec: str,
    resolution: int,
    channels: int,
    held_out_fraction: float = 0.2,
    log: Log = log_to_stderr,
) -> DataSplit:
    if not 0.0 < held_out_fraction < 1.0:
        raise UserError(f"held-out fraction {held_out_fraction} must be between 0 and 1")
    if spec == "synthetic" or spec.startswith("synthetic:"):
        return _synthetic(spec, resolution, channels, held_out_fraction, log)
    path = Path(spec)
    if path.is_dir():
        images = load_image_folder(path, resolution, channels, log)
    elif path.is_file() and path.suffix == ".npz":
        images = load_npz(path, resolution, channels)
    elif path.exists():
        raise UserError(
            f"--data {spec}: unknown data format; give a folder of class subfolders, "
            "an .npz file or synthetic[:N]"
        )
    else:
        raise UserError(f"--data {spec}: no such folder or file (or give synthetic[:N])")
    train, held_out = split_per_class(images, held_out_fraction)
    return DataSplit(str(path), train, held_out)


def _synthetic(
    spec: str, resolution: int, channels: int, held_out_fraction: float, log: Log
) -> DataSplit:
    count_text = spec.partition(":")[2] or str(DEFAULT_SYNTHETIC_COUNT)
    try:
        count = int(count_text)
    except ValueError:
        count = 0
    if count < 2:
        raise UserError(f"--data {spec}: give synthetic:N with an integer N of 2 or more")
    held_out_count = max(1, round(count * held_out_fraction))
    train_count = max(1, count - held_out_count)
    log(
        f"data: generating {train_count} + {held_out_count} synthetic "
        f"{resolution}x{resolution}x{channels} images"
    )
    names = synthetic.CLASS_NAMES
    train = ImageSet(
        *synthetic.synthetic_images(synthetic.TRAIN_STREAM, train_count, resolution, channels),
        names,
    )
    held_out = ImageSet(
        *synthetic.synthetic_images(
            synthetic.HELD_OUT_STREAM, held_out_count, resolution, channels
        ),
        names,
    )
    return DataSplit(f"synthetic:{count}", train, held_out)


def load_image_folder(folder: Path, resolution: int, channels: int, log: Log) -> ImageSet:
    """Reads DIR/<class>/<image>; corrupt images are reported by path and skipped."""

    class_folders = sorted(p for p in folder.iterdir() if p.is_dir())
    if not class_folders:
        raise UserError(
            f"--data {folder}: no class subfolders; put each class's images in DIR/<class>/"
        )
    if len(class_folders) < 2:
        raise UserError(
            f"--data {folder}: only one class ({class_folders[0].name}); a classifier needs "
            "at least two class subfolders"
        )
    images, labels, skipped = [], [], 0
    for label, class_folder in enumerate(class_folders):
        files = sorted(
            p for p in class_folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        read = 0
        for path in files:
            try:
                pixels = read_image(path, resolution, resolution, channels)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                log(f"data: skipped unreadable image {path}: {error}")
                skipped += 1
                continue
            images.append(pixels)
            labels.append(label)
            read += 1
            if len(images) % PROGRESS_EVERY == 0:
                log(f"data: read {len(images)} images")
        if read == 0:
            raise UserError(
                f"--data {folder}: class folder {class_folder.name} has no readable png, jpg "
                "or bmp images"
            )
    if skipped:
        log(f"data: skipped {skipped} unreadable image{'s' if skipped != 1 else ''}")
    log(f"data: {len(images)} images in {len(class_folders)} classes from {folder}")
    return ImageSet(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        tuple(p.name for p in class_folders),
    )


def load_npz(path: Path, resolution: int, channels: int) -> ImageSet:
    try:
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    except KeyError:
        raise UserError(
            f"--data {path}: an .npz data set needs arrays 'images' and 'labels'"
        ) from None
    except (OSError, ValueError) as error:
        raise UserError(f"--data {path}: cannot read it as .npz ({error})") from None
    if images.ndim == 3:
        images = images[..., np.newaxis]
    expected = (resolution, resolution, channels)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise UserError(
            f"--data {path}: images of shape {'x'.join(map(str, images.shape[1:]))} do not "
            f"match the model's input {'x'.join(map(str, expected))}; resize them, or use an "
            "image folder (resized automatically)"
        )
    if images.dtype != np.uint8:
        raise UserError(f"--data {path}: images must be uint8 pixels (0-255), not {images.dtype}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"--data {path}: labels must be {len(images)} integers, one per image")
    if len(labels) == 0 or labels.min() < 0:
        raise UserError(f"--data {path}: labels must be class indices 0, 1, ...")
    classes = max(2, int(labels.max()) + 1)
    return ImageSet(images, labels.astype(np.int64), tuple(str(i) for i in range(classes)))


def split_per_class(images: ImageSet, held_out_fraction: float) -> tuple[ImageSet, ImageSet]:
    rng = np.random.default_rng(SPLIT_SEED)
    train_index, held_out_index = [], []
    for label in range(len(images.class_names)):
        members = np.flatnonzero(images.labels == label)
        if len(members) == 0:
            continue
        members = rng.permutation(members)
        held = max(1, math.floor(len(members) * held_out_fraction)) if len(members) > 1 else 0
        train_index.extend(members[: len(members) - held])
        held_out_index.extend(members[len(members) - held :])
    if not held_out_index:
        raise UserError("the data set is too small to hold any images out: give more images")
    return _subset(images, train_index), _subset(images, held_out_index)


def _subset(images: ImageSet, index: list[int]) -> ImageSet:
    order = np.sort(np.asarray(index, dtype=np.int64))
    return ImageSet(images.images[order], images.labels[order], images.class_names)
