# SPDX-License-Identifier: Apache-2.0
"""`mcu-mobilenet train`: a short run on synthetic data lands well above chance, writes the
model and its metrics JSON, is deterministic per seed, and refuses bad requests."""

import json

import numpy as np
import pytest
from model_fixtures import TRAIN_ARGS, trained_mobilenet  # noqa: F401

CHANCE = 0.25  # four synthetic classes


def test_short_training_run_lands_well_above_chance(trained_mobilenet):  # noqa: F811
    model, stdout = trained_mobilenet
    report = json.loads(stdout)
    assert report["held_out_accuracy"] >= CHANCE + 0.15
    assert len(report["history"]) == 4
    assert report["history"][-1]["loss"] < report["history"][0]["loss"]
    assert report["data"] == {
        "source": "synthetic:1500",
        "class_names": ["stripes_0", "stripes_45", "stripes_90", "stripes_135"],
        "train_images": 1200,
        "held_out_images": 300,
    }
    assert report["family"]["classes"] == 4 and report["family"]["params"] == 208_624
    beside = json.loads(model.with_name("model.keras.json").read_text())
    assert beside == report


def test_saved_model_reproduces_the_reported_held_out_accuracy(trained_mobilenet, run_cli):  # noqa: F811
    model, stdout = trained_mobilenet
    code, out, err = run_cli("evaluate", model, "--data", "synthetic:1500", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["top1"] == pytest.approx(json.loads(stdout)["held_out_accuracy"], abs=1e-6)
    assert result["images"] == 300 and result["kind"] == "float (keras)"


def test_training_is_deterministic_for_a_seed(run_cli, tmp_path):
    import keras

    args = ["--alpha", "0.25", "--resolution", "32", "--data", "synthetic:96"]
    args += ["--epochs", "1", "--batch-size", "16"]
    weights = []
    for name in ("a", "b"):
        code, _, err = run_cli("train", *args, "--seed", "7", "-o", tmp_path / f"{name}.keras")
        assert code == 0, err
        model = keras.saving.load_model(tmp_path / f"{name}.keras", compile=False)
        weights.append(model.get_weights())
    assert all(np.array_equal(x, y) for x, y in zip(*weights, strict=True))
    history = [json.loads((tmp_path / f"{n}.keras.json").read_text())["history"] for n in "ab"]
    assert history[0][0]["loss"] == history[1][0]["loss"]


def test_train_prints_a_summary_and_progress(run_cli, tmp_path):
    code, out, err = run_cli(
        "train", "--alpha", "0.25", "--resolution", "32", "--channels", "1",
        "--data", "synthetic:40", "--epochs", "1", "--batch-size", "8", "-o", tmp_path / "m.keras",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("MobileNetV1 alpha 0.25, 32x32x1, 4 classes: held-out accuracy ")
    assert "epoch 1/1: loss " in err and "data: generating 32 + 8 synthetic 32x32x1" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.keras.json"]


def test_train_refuses_an_existing_output_unless_forced(run_cli, tmp_path):
    output = tmp_path / "m.keras"
    output.write_text("precious")
    args = ["train", *TRAIN_ARGS[:4], "--data", "synthetic:16", "--epochs", "1", "-o", output]
    code, _, err = run_cli(*args)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "exists" in err and "--force" in err and output.read_text() == "precious"
    code, _, err = run_cli(*args, "--force")
    assert code == 0, err
    assert output.stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


@pytest.mark.parametrize(
    "args, words",
    [
        (["-o", "m.h5"], "name the output NAME.keras"),
        (["--epochs", "0"], "must be positive"),
        (["--batch-size", "x"], "--batch-size 'x' is not an integer"),
        (["--alpha", "1.5"], "(0, 1]"),
        (["--resolution", "48"], "multiple of 32"),
        (["--channels", "2"], "1 (grayscale) or 3 (RGB)"),
        (["--dropout", "1"], "dropout 1.0 is out of range"),
        (["--full-conv", "--shallow"], "at most one"),
    ],
)
def test_train_rejects_bad_values_with_one_line(run_cli, tmp_path, args, words):
    # A later option wins in argparse, so each case overrides these defaults.
    defaults = ["--data", "synthetic:16", "-o", tmp_path / "m.keras"]
    code, out, err = run_cli("train", *defaults, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
    assert not list(tmp_path.iterdir())
