# SPDX-License-Identifier: Apache-2.0
"""The MobileNetV1 family spec and its counts against the MobileNets paper's own figures."""

import json

import pytest

from mcu_mobilenet.compiler.model_checker import check_model
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.model.counting import count_network, network_costs
from mcu_mobilenet.model.family import MobileNetConfig, mobilenet_layers, scaled_channels
from mcu_mobilenet.sweep.family_graph import family_graph


def totals(alpha=1.0, resolution=224, variant="separable"):
    count = count_network(MobileNetConfig(alpha=alpha, resolution=resolution, variant=variant))
    return count.macs, count.params


# (table, alpha, resolution, variant, paper mult-adds in millions, paper parameters in millions)
PAPER_FIGURES = [
    ("table 4/6/7: 1.0 MobileNet-224", 1.0, 224, "separable", 569, 4.2),
    ("table 5/6: 0.75 MobileNet-224", 0.75, 224, "separable", 325, 2.6),
    ("table 5: shallow MobileNet", 1.0, 224, "shallow", 307, 2.9),
    ("table 6: 0.5 MobileNet-224", 0.5, 224, "separable", 149, 1.3),
    ("table 6: 0.25 MobileNet-224", 0.25, 224, "separable", 41, 0.5),
    ("table 7: 1.0 MobileNet-192", 1.0, 192, "separable", 418, 4.2),
    ("table 7: 1.0 MobileNet-128", 1.0, 128, "separable", 186, 4.2),
]


@pytest.mark.parametrize("table, alpha, resolution, variant, macs_m, params_m", PAPER_FIGURES)
def test_totals_match_the_paper_to_its_printed_precision(
    table, alpha, resolution, variant, macs_m, params_m
):
    macs, params = totals(alpha, resolution, variant)
    assert round(macs / 1e6) == macs_m, table
    assert round(params / 1e6, 1) == params_m, table


def test_table_4_full_convolution_figures():
    """Paper: 4866M, 29.3M. The parameters match; the paper's 4866M is the sum over the
    convolutions alone (4866.3M): that row leaves out the 1.0M classifier that the 569M
    row of the same table counts. We count the classifier in every row: 4867M."""
    config = MobileNetConfig(variant="full-conv")
    costs = network_costs(mobilenet_layers(config))
    macs = sum(c.macs for c in costs)
    convolution_macs = sum(c.macs for c in costs if c.layer.kind == "conv")
    assert round(sum(c.params for c in costs) / 1e6, 1) == 29.3
    assert round(convolution_macs / 1e6) == 4866
    assert macs == convolution_macs + 1024 * 1000
    assert round(macs / 1e6) == 4867


def test_table_7_resolution_160_figures():
    """Paper: 290M, 4.2M. The layers at 160x160 add up to 290.7M (291M); the paper's 290M is
    its 224 total scaled by rho^2 = (160/224)^2, which also scales the classifier although
    its cost does not depend on the resolution."""
    macs, params = totals(resolution=160)
    macs_224, _ = totals(resolution=224)
    assert round(params / 1e6, 1) == 4.2
    assert round(macs / 1e6) == 291
    assert round(macs_224 * (160 / 224) ** 2 / 1e6) == 290


def test_resolution_leaves_parameters_unchanged_and_scales_layer_costs_by_rho_squared():
    small, large = MobileNetConfig(resolution=32), MobileNetConfig(resolution=224)
    small_costs = network_costs(mobilenet_layers(small))
    large_costs = network_costs(mobilenet_layers(large))
    for s, big in zip(small_costs, large_costs, strict=True):
        assert s.params == big.params
        if s.layer.kind in ("conv", "depthwise", "pointwise"):
            assert s.macs * 49 == big.macs


def test_table_2_shares_of_the_1_0_network():
    """Paper Table 2: 1x1 conv 94.86% of mult-adds and 74.59% of parameters, depthwise 3.06%
    and 1.06%, fully connected 0.18% and 24.33%, 3x3 conv 0.02% of parameters. (Its 1.19%
    mult-adds for the 3x3 conv does not fit its own total: 10.8M of 569M is 1.91%.)"""
    costs = network_costs(mobilenet_layers(MobileNetConfig()))
    macs = sum(c.macs for c in costs)
    params = sum(c.params for c in costs)

    def share(kind, attribute, total):
        return round(
            100 * sum(getattr(c, attribute) for c in costs if c.layer.kind == kind) / total, 2
        )

    assert share("pointwise", "macs", macs) == 94.86
    assert share("pointwise", "params", params) == 74.59
    assert share("depthwise", "macs", macs) == 3.06
    assert share("depthwise", "params", params) == 1.06
    assert share("dense", "macs", macs) == 0.18
    assert share("dense", "params", params) == 24.33
    assert share("conv", "params", params) == 0.02
    assert share("conv", "macs", macs) == 1.91


def test_layer_list_follows_the_paper_table_1():
    layers = mobilenet_layers(MobileNetConfig())
    kinds = [layer.kind for layer in layers]
    assert kinds == ["conv"] + ["depthwise", "pointwise"] * 13 + [
        "avgpool",
        "dropout",
        "dense",
        "softmax",
    ]
    assert layers[0].input_shape == (224, 224, 3) and layers[0].output_shape == (112, 112, 32)
    assert [layer.output_shape for layer in layers if layer.kind == "pointwise"] == [
        (112, 112, 64),
        (56, 56, 128),
        (56, 56, 128),
        (28, 28, 256),
        (28, 28, 256),
        *[(14, 14, 512)] * 6,
        (7, 7, 1024),
        (7, 7, 1024),
    ]
    assert layers[-2].output_shape == (1000,)


def test_shallow_drops_the_five_14x14x512_blocks_and_full_conv_replaces_every_block():
    shallow = mobilenet_layers(MobileNetConfig(variant="shallow"))
    assert sum(layer.kind == "pointwise" for layer in shallow) == 8
    assert [layer.name for layer in shallow if layer.output_shape == (14, 14, 512)] == ["conv_pw_6"]
    full = mobilenet_layers(MobileNetConfig(variant="full-conv"))
    assert [layer.kind for layer in full[:14]] == ["conv"] * 14
    assert all(layer.kernel == 3 for layer in full[:14])


@pytest.mark.parametrize(
    "channels, alpha, expected",
    [
        (32, 1.0, 32),
        (32, 0.75, 24),
        (1024, 0.25, 256),
        (32, 0.3, 10),
        (64, 0.35, 22),
        (32, 0.01, 1),
    ],
)
def test_width_multiplier_rounds_to_nearest_and_keeps_at_least_one_channel(
    channels, alpha, expected
):
    assert scaled_channels(channels, alpha) == expected


def test_any_alpha_in_range_and_any_multiple_of_32_builds_consistent_shapes():
    for alpha in (0.1, 0.33, 0.6, 1.0):
        for resolution in (32, 64, 96, 256):
            layers = mobilenet_layers(MobileNetConfig(alpha=alpha, resolution=resolution))
            for before, after in zip(layers, layers[1:], strict=False):
                assert before.output_shape == after.input_shape
            assert layers[-5].output_shape[:2] == (resolution // 32, resolution // 32)


@pytest.mark.parametrize("variant", ["separable", "shallow", "full"])
def test_the_built_graph_of_every_variant_passes_the_model_checker(variant):
    # The sweep's fit check compiles these graphs; a checker rejection there fails every point.
    check_model(family_graph(MobileNetConfig(alpha=0.25, resolution=32, variant=variant)))


@pytest.mark.parametrize(
    "field, value",
    [("alpha", 0.0), ("alpha", 1.5), ("resolution", 16), ("resolution", 100), ("channels", 2)],
)
def test_bad_family_parameters_raise_user_errors(field, value):
    with pytest.raises(UserError):
        MobileNetConfig(**{field: value})


def test_info_prints_a_per_layer_table_and_the_totals(run_cli):
    code, out, err = run_cli("info", "--alpha", "0.25", "--resolution", "96", "--channels", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split() == ["#", "name", "type", "input", "output", "mult-adds", "params"]
    assert any(
        line.split()[:5] == ["1", "conv_dw_1", "depthwise", "3x3/s1", "48x48x8"] for line in lines
    )
    assert lines[-1].startswith("total: ")


def test_info_json_has_integer_totals_and_the_layer_list(run_cli):
    code, out, _ = run_cli("info", "--json")
    report = json.loads(out)
    assert (report["macs"], report["params"]) == (568_740_352, 4_209_088)
    assert type(report["macs"]) is int and type(report["params"]) is int
    assert sum(layer["macs"] for layer in report["layers"]) == report["macs"]
    assert report["layers"][0] == {
        "name": "conv1",
        "type": "conv",
        "kernel": 3,
        "stride": 2,
        "input_shape": [224, 224, 3],
        "output_shape": [112, 112, 32],
        "macs": 112 * 112 * 27 * 32,
        "params": 27 * 32,
    }
    code, out, _ = run_cli("info", "--json", "--shallow", "--alpha", "0.75", "--classes", "10")
    assert code == 0 and json.loads(out)["model"]["variant"] == "shallow"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--alpha", "0"], "alpha 0.0"),
        (["--alpha", "1.01"], "(0, 1]"),
        (["--alpha", "wide"], "--alpha 'wide' is not a number"),
        (["--resolution", "100"], "multiple of 32"),
        (["--resolution", "0"], "multiple of 32"),
        (["--resolution", "96.5"], "not an integer"),
        (["--channels", "4"], "1 (grayscale) or 3 (RGB)"),
        (["--classes", "1"], "at least 2"),
        (["--full-conv", "--shallow"], "at most one"),
    ],
)
def test_info_rejects_bad_values_with_one_line(run_cli, args, words):
    code, out, err = run_cli("info", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
