# SPDX-License-Identifier: Apache-2.0
"""Data sets: the synthetic set, image folders, .npz arrays, the held-out split, and errors."""

import numpy as np
import pytest
from PIL import Image

from mcu_mobilenet.model import synthetic
from mcu_mobilenet.model.data import ImageSet, load_data, split_per_class

quiet = lambda message: None  # noqa: E731


def test_synthetic_samples_are_seeded_and_independent_of_the_count():
    first, first_labels = synthetic.synthetic_images(synthetic.TRAIN_STREAM, 5, 32, 3)
    again, again_labels = synthetic.synthetic_images(synthetic.TRAIN_STREAM, 8, 32, 3)
    assert np.array_equal(first, again[:5]) and np.array_equal(first_labels, again_labels[:5])
    other, _ = synthetic.synthetic_images(synthetic.HELD_OUT_STREAM, 5, 32, 3)
    assert not np.array_equal(first, other)


def test_synthetic_scene_is_the_same_at_every_resolution_and_channel_count():
    _, labels_32 = synthetic.synthetic_images(synthetic.TRAIN_STREAM, 20, 32, 1)
    images_96, labels_96 = synthetic.synthetic_images(synthetic.TRAIN_STREAM, 20, 96, 1)
    assert np.array_equal(labels_32, labels_96)
    assert images_96.shape == (20, 96, 96, 1) and images_96.dtype == np.uint8
    rgb, _ = synthetic.synthetic_images(synthetic.TRAIN_STREAM, 2, 32, 3)
    assert rgb.shape == (2, 32, 32, 3)


def test_synthetic_classes_are_balanced_and_fine_stripes_fade_at_low_resolution():
    scenes = [synthetic.make_scene(synthetic.TRAIN_STREAM, i) for i in range(400)]
    counts = np.bincount([scene.label for scene in scenes], minlength=4)
    assert counts.min() > 70
    fine = [s for s in scenes if s.period < 0.06 and s.contrast > 0.8][:10]
    coarse = [s for s in scenes if s.period > 0.15 and s.contrast > 0.8][:10]

    def disc_contrast(scenes, resolution):
        images = synthetic.render(scenes, resolution, 1).astype(np.float32)
        spreads = []
        for scene, image in zip(scenes, images, strict=True):
            y, x = np.mgrid[:resolution, :resolution]
            inside = (
                np.hypot(
                    (x + 0.5) / resolution - scene.center[0],
                    (y + 0.5) / resolution - scene.center[1],
                )
                < scene.radius * 0.7
            )
            spreads.append(image[..., 0][inside].std())
        return float(np.mean(spreads))

    # Stripes near the sampling limit lose much of their contrast at 32x32, not at 96x96;
    # coarse ones keep it at both.
    assert disc_contrast(fine, 32) < 0.75 * disc_contrast(fine, 96)
    assert disc_contrast(coarse, 32) > 0.9 * disc_contrast(coarse, 96)


def test_synthetic_split_sizes():
    data = load_data("synthetic:50", 32, 3, 0.2, log=quiet)
    assert (len(data.train), len(data.held_out)) == (40, 10)
    assert data.class_names == synthetic.CLASS_NAMES
    assert data.source == "synthetic:50"


def _write(path, mode, size, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "images"
    for i in range(5):
        _write(root / "cat" / f"{i}.png", "RGB", (40, 30), (200, 10 * i, 0))
        _write(root / "dog" / f"{i}.jpg", "L", (64, 64), 20 * i)
    _write(root / "dog" / "extra.bmp", "RGB", (8, 8), (0, 0, 255))
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_reads_converts_resizes_and_skips_corrupt_files(image_folder):
    messages = []
    data = load_data(str(image_folder), 32, 1, 0.2, log=messages.append)
    assert data.class_names == ("cat", "dog")
    every = np.concatenate([data.train.images, data.held_out.images])
    assert every.shape == (11, 32, 32, 1) and every.dtype == np.uint8
    assert sorted(np.concatenate([data.train.labels, data.held_out.labels])) == [0] * 5 + [1] * 6
    skipped = [m for m in messages if "broken.png" in m]
    assert len(skipped) == 1 and str(image_folder / "cat" / "broken.png") in skipped[0]
    assert "skipped 1 unreadable image" in " ".join(messages)
    rgb = load_data(str(image_folder), 16, 3, 0.2, log=quiet)
    assert rgb.train.images.shape[1:] == (16, 16, 3)
    red_cat = rgb.train.images[rgb.train.labels == 0][0]
    assert red_cat[..., 0].mean() > 190 and red_cat[..., 2].mean() < 10


def test_split_is_per_class_deterministic_and_disjoint():
    labels = np.repeat(np.arange(3), [10, 4, 2])
    images = ImageSet(np.arange(16, dtype=np.uint8).reshape(16, 1, 1, 1), labels, ("a", "b", "c"))
    train, held_out = split_per_class(images, 0.25)
    again, _ = split_per_class(images, 0.25)
    assert np.array_equal(train.images, again.images)
    assert sorted(held_out.labels) == [0, 0, 1, 2]
    assert not set(train.images.ravel()) & set(held_out.images.ravel())
    assert len(train) + len(held_out) == 16


def test_npz_data_of_the_model_shape_loads(tmp_path):
    path = tmp_path / "set.npz"
    np.savez(path, images=np.zeros((6, 8, 8), np.uint8), labels=np.array([0, 1, 0, 1, 2, 2]))
    data = load_data(str(path), 8, 1, 0.3, log=quiet)
    assert data.class_names == ("0", "1", "2") and data.train.images.shape[1:] == (8, 8, 1)


@pytest.mark.parametrize(
    "spec_maker, words",
    [
        (lambda tmp: "synthetic:many", "synthetic:N with an integer N"),
        (lambda tmp: "synthetic:1", "synthetic:N with an integer N"),
        (lambda tmp: str(tmp / "absent"), "no such folder or file"),
        (lambda tmp: _file(tmp / "data.csv", b"a,b"), "unknown data format"),
        (lambda tmp: _folder(tmp, {}), "no class subfolders"),
        (lambda tmp: _folder(tmp, {"only": 2}), "only one class (only)"),
        (lambda tmp: _folder(tmp, {"a": 2, "b": 0}), "class folder b has no readable"),
        (lambda tmp: _npz(tmp, images=np.zeros((2, 64, 64, 3), np.uint8)), "do not match"),
        (lambda tmp: _npz(tmp, images=np.zeros((2, 32, 32, 3), np.float32)), "must be uint8"),
        (lambda tmp: _npz(tmp, pixels=np.zeros((2, 32, 32, 3), np.uint8)), "needs arrays"),
        (lambda tmp: _file(tmp / "bad.npz", b"garbage"), "cannot read it as .npz"),
    ],
)
def test_data_errors_are_one_line_through_the_cli(run_cli, tmp_path, spec_maker, words):
    spec = spec_maker(tmp_path)
    code, out, err = run_cli(
        "train", "--alpha", "0.25", "--resolution", "32", "--data", spec, "-o", tmp_path / "m.keras"
    )
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and words in err
    assert not (tmp_path / "m.keras").exists()


def _file(path, content):
    path.write_bytes(content)
    return str(path)


def _folder(tmp, counts):
    root = tmp / "folder"
    root.mkdir()
    for name, count in counts.items():
        (root / name).mkdir()
        for i in range(count):
            _write(root / name / f"{i}.png", "L", (4, 4), i)
    return str(root)


def _npz(tmp, **arrays):
    path = tmp / "arrays.npz"
    labels = np.array([0, 1])
    np.savez(path, labels=labels, **arrays)
    return str(path)
