"""Architectures of the three papers: registry, shapes, parameter counts, layer order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from decoybench.models import ARCHITECTURES, build_model

ROOT = Path(__file__).parents[2]

# Input shapes each architecture must serve (channels, side); all take both MNIST and CIFAR-like.
SHAPES = [(1, 28), (3, 32)]

FEATURE_DIMS = {
    "deepsec_mnist_cnn": 200,
    "deepsec_resnet20": 64,
    "luring_mnist_cnn": 1024,
    "luring_svhn_cnn": 1024,
    "luring_cifar10_cnn": 1024,
    "multitask_oracle": 512,
    "multitask_substitute_mnist": 200,
    "multitask_substitute_cifar10": 256,
}


def n_params(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def make(name: str, channels: int = 1, side: int = 28) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, in_channels=channels, image_size=side, num_classes=10)


def test_registry_matches_schema_enum() -> None:
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    enum = schema["properties"]["models"]["additionalProperties"]["properties"]["architecture"][
        "enum"
    ]
    assert set(ARCHITECTURES) == set(enum)
    assert len(enum) == len(set(enum))
    assert set(FEATURE_DIMS) == set(ARCHITECTURES)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("channels", "side"), SHAPES)
def test_forward_and_features_shapes(name: str, channels: int, side: int) -> None:
    model = make(name, channels, side).eval()
    x = torch.rand(2, channels, side, side)
    with torch.no_grad():
        logits = model(x)
        features = model.features(x)
    assert logits.shape == (2, 10)
    assert features.shape == (2, FEATURE_DIMS[name])
    assert model.feature_dim == FEATURE_DIMS[name]
    assert torch.isfinite(logits).all()
    # Logits, not probabilities: no softmax at the end.
    assert not torch.allclose(logits.sum(dim=1), torch.ones(2))
    # The final layer maps the features to the logits.
    with torch.no_grad():
        assert torch.allclose(model.head(features), logits)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_eval_mode_is_deterministic(name: str) -> None:
    model = make(name).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_deepsec_mnist_cnn_parameter_count() -> None:
    # conv 1->32 3x3: 32*9 + 32 = 320; 32->32: 32*32*9 + 32 = 9248; 32->64: 18496;
    # 64->64: 36928; fc 1024->200: 205000; 200->200: 40200; 200->10: 2010.
    expected = 320 + 9248 + 18496 + 36928 + 205000 + 40200 + 2010
    assert expected == 312202
    assert n_params(make("deepsec_mnist_cnn")) == expected


def test_multitask_substitute_mnist_parameter_count() -> None:
    # Same layers as DEEPSEC's MNIST CNN without dropout: 28->26->24->12->10->8->4, flat 1024.
    expected_28 = 320 + 9248 + 18496 + 36928 + (1024 * 200 + 200) + (200 * 200 + 200) + 2010
    assert n_params(make("multitask_substitute_mnist")) == expected_28 == 312202
    # 3x32x32: first conv 3*32*9 + 32 = 896; 32->30->28->14->12->10->5, flat 64*25 = 1600.
    expected_32 = 896 + 9248 + 18496 + 36928 + (1600 * 200 + 200) + 40200 + 2010
    assert n_params(make("multitask_substitute_mnist", 3, 32)) == expected_32 == 427978


def test_multitask_substitute_cifar10_parameter_count() -> None:
    # conv 3->64: 1792; 64->64: 36928; 64->128: 73856; 128->128: 147584;
    # flat 128*5*5 = 3200: fc 3200->256: 819456; 256->256: 65792; 256->10: 2570.
    expected = 1792 + 36928 + 73856 + 147584 + 819456 + 65792 + 2570
    assert n_params(make("multitask_substitute_cifar10", 3, 32)) == expected == 1147978


def test_multitask_oracle_parameter_count() -> None:
    # 'same' convs: 320 + 9248 + 18496 + 36928 + 73856 (64->128) + 147584 (128->128);
    # 28->14->7->3, flat 128*9 = 1152: fc 1152->512: 590336; 512->10: 5130.
    expected = 320 + 9248 + 18496 + 36928 + 73856 + 147584 + 590336 + 5130
    assert n_params(make("multitask_oracle")) == expected == 881898


def test_luring_mnist_cnn_parameter_count() -> None:
    # conv 1->32 5x5: 832; 32->64 5x5: 51264; 'same' padding: 28->14->7, flat 64*49 = 3136:
    # fc 3136->1024: 3212288; 1024->10: 10250.
    expected = 832 + 51264 + 3212288 + 10250
    assert n_params(make("luring_mnist_cnn")) == expected == 3274634


def test_resnet20_parameter_count() -> None:
    # Stem: conv 3->16 (432, no bias) + BN (32) = 464.
    # Stage 1: 3 blocks x (2 convs 16->16: 2*2304 + 2 BN: 2*32) = 3 * 4672 = 14016.
    # Stage 2: first block 4608 + 64 + 9216 + 64 + projection 512 + 64 = 14528;
    #          two blocks x (2*9216 + 2*64) = 37120; total 51648.
    # Stage 3: first block 18432 + 128 + 36864 + 128 + projection 2048 + 128 = 57728;
    #          two blocks x (2*36864 + 2*128) = 147968; total 205696.
    # FC 64->10: 650.
    expected = 464 + 14016 + 51648 + 205696 + 650
    assert expected == 272474
    assert n_params(make("deepsec_resnet20", 3, 32)) == expected
    # 1-channel stem: 1*16*9 = 144 instead of 432.
    assert n_params(make("deepsec_resnet20", 1, 28)) == expected - 288


def test_resnet20_structure() -> None:
    model = make("deepsec_resnet20", 3, 32)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    projections = [
        m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)
    ]
    assert len(convs) == 19  # 1 + 3 stages * 3 blocks * 2, plus the FC: 20 weighted layers
    assert len(projections) == 2  # only where the shape changes (stages 2 and 3)
    assert [m.stride for m in convs if m.stride != (1, 1)] == [(2, 2), (2, 2)]


DROPOUT = {
    "deepsec_mnist_cnn": [0.5],
    "deepsec_resnet20": [],
    "luring_mnist_cnn": [],
    "luring_svhn_cnn": [],
    "luring_cifar10_cnn": [],
    "multitask_oracle": [0.2, 0.2, 0.2, 0.2],
    "multitask_substitute_mnist": [],
    "multitask_substitute_cifar10": [],
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_dropout_as_in_the_tables(name: str) -> None:
    rates = [m.p for m in make(name).modules() if isinstance(m, nn.Dropout)]
    assert rates == DROPOUT[name]


def test_oracle_features_come_before_the_final_dropout() -> None:
    model = make("multitask_oracle")
    assert isinstance(model.head[0], nn.Dropout)
    assert isinstance(model.trunk[-1], nn.ReLU)


@pytest.mark.parametrize(
    ("name", "widths"),
    [("luring_svhn_cnn", (64, 128, 256)), ("luring_cifar10_cnn", (128, 256, 512))],
)
def test_luring_bn_placement(name: str, widths: tuple[int, int, int]) -> None:
    layers = list(make(name, 3, 32).trunk)
    block = [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU]
    dense = [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU]
    assert [type(layer) for layer in layers] == block * 3 + dense
    assert [layer.out_channels for layer in layers if isinstance(layer, nn.Conv2d)] == [
        w for w in widths for _ in range(2)
    ]
    assert all(layer.padding == (1, 1) for layer in layers if isinstance(layer, nn.Conv2d))
    assert layers[-6].in_features == widths[-1] * 4 * 4


def test_too_small_image_is_rejected() -> None:
    with pytest.raises(ValueError, match="image_size=8 is too small"):
        build_model("deepsec_mnist_cnn", in_channels=1, image_size=8, num_classes=10)


def test_bad_shape_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        build_model("multitask_oracle", in_channels=1, image_size=28, num_classes=0)


def test_unknown_architecture_lists_allowed_names() -> None:
    with pytest.raises(ValueError, match="'resnet50'") as info:
        build_model("resnet50", in_channels=3, image_size=32, num_classes=10)
    for name in ARCHITECTURES:
        assert name in str(info.value)
