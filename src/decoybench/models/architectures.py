"""Classifier architectures of the three deception papers, and their registry.

Every model maps a float NCHW batch in [0, 1] to LOGITS (the papers' final softmax belongs to
the loss), and exposes `features(x)`: the activations of the last hidden layer, i.e. the input
of the final linear layer (before any dropout that precedes it). Constructors take keyword
arguments `in_channels`, `image_size` and `num_classes`; flattened sizes are computed from
`image_size`, so one architecture serves 1x28x28 and 3x32x32 data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "ARCHITECTURES",
    "Classifier",
    "DeepsecMnistCnn",
    "DeepsecResNet20",
    "LuringCifar10Cnn",
    "LuringMnistCnn",
    "LuringSvhnCnn",
    "MultitaskOracle",
    "MultitaskSubstituteCifar10",
    "MultitaskSubstituteMnist",
    "build_model",
]


def _after_convs(size: int, pattern: str, *, name: str) -> int:
    """Spatial size after a layer pattern: 'v' = unpadded 3x3 conv, 'p' = 2x2 max-pool.

    'Same'-padded convs leave the size unchanged and are simply left out of the pattern.
    """
    current = size
    for op in pattern:
        current = current - 2 if op == "v" else current // 2
        if current < 1:
            raise ValueError(f"{name}: image_size={size} is too small for this architecture")
    return current


def _check_shape(name: str, in_channels: int, image_size: int, num_classes: int) -> None:
    for key, value in (
        ("in_channels", in_channels),
        ("image_size", image_size),
        ("num_classes", num_classes),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")


class Classifier(nn.Module):
    """Base class: `forward(x) = head(features(x))`, returning logits.

    Subclasses define `trunk` (input -> last hidden activations) and `head` (-> logits),
    and set `feature_dim` (size of `features(x)` per example).
    """

    name: str = ""
    trunk: nn.Module
    head: nn.Module
    feature_dim: int

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__()
        _check_shape(self.name, in_channels, image_size, num_classes)
        self.in_channels = in_channels
        self.image_size = image_size
        self.num_classes = num_classes

    def features(self, x: Tensor) -> Tensor:
        """Last hidden layer's activations, shape (N, feature_dim)."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits, shape (N, num_classes)."""
        return self.head(self.features(x))


def _conv_relu(cin: int, cout: int, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel_size=3, padding=padding), nn.ReLU(inplace=True)]


class DeepsecMnistCnn(Classifier):
    """DEEPSEC's raw MNIST model (Ling et al., S&P 2019), used by the attractors paper.

    conv3x3(32)-ReLU-conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-conv3x3(64)-ReLU-maxpool2
    (unpadded), flatten (64*4*4 for 28x28), FC 200-ReLU, dropout 0.5, FC 200-ReLU, FC logits.
    `features` = the second 200-d ReLU output.
    """

    name = "deepsec_mnist_cnn"

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        side = _after_convs(image_size, "vvpvvp", name=self.name)
        self.feature_dim = 200
        self.trunk = nn.Sequential(
            *_conv_relu(in_channels, 32),
            *_conv_relu(32, 32),
            nn.MaxPool2d(2),
            *_conv_relu(32, 64),
            *_conv_relu(64, 64),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * side * side, 200),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(200, 200),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(200, num_classes)


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv+BN, identity or 1x1-conv+BN projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class DeepsecResNet20(Classifier):
    """ResNet-20 for CIFAR-10 (He et al., CVPR 2016, Sec. 4.2), as in DEEPSEC's raw model.

    conv3x3(16)+BN+ReLU, three stages of 3 basic blocks with 16/32/64 channels (stride 2 at the
    start of stages 2 and 3), global average pool, FC(64 -> num_classes). Where the shape
    changes the shortcut is a 1x1-conv+BN projection, as in DEEPSEC's ResNet-20; He et al.'s
    CIFAR variant used parameter-free zero-padding shortcuts ("option A") instead. Convs use
    Kaiming-normal init. `features` = the 64-d pooled activations.
    """

    name = "deepsec_resnet20"

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        self.feature_dim = 64
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        ]
        cin = 16
        for stage, cout in enumerate((16, 32, 64)):
            for block in range(3):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(_BasicBlock(cin, cout, stride))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


class LuringMnistCnn(Classifier):
    """Luring paper (Bernhard et al. 2021), Table 2: MNIST base classifier.

    CONV(32,5,5)+ReLU, MAXPOOL(2,2), CONV(64,5,5)+ReLU, MAXPOOL(2,2), DENSE(1024)+ReLU,
    DENSE(10) (logits). The table does not state the padding; we use padding=2 ('same'),
    as in the authors' Keras code. `features` = the 1024-d ReLU output.
    """

    name = "luring_mnist_cnn"

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        side = _after_convs(image_size, "pp", name=self.name)
        self.feature_dim = 1024
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * side * side, 1024),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(1024, num_classes)


def _luring_vgg_trunk(
    in_channels: int, widths: tuple[int, int, int], flat_side: int
) -> nn.Sequential:
    """Luring Tables 3/4 trunk: per width, CONV+BN+RELU then CONV+MAXPOOL+BN+RELU; 2 dense."""
    layers: list[nn.Module] = []
    cin = in_channels
    for width in widths:
        layers += [
            nn.Conv2d(cin, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        cin = width
    layers += [
        nn.Flatten(),
        nn.Linear(cin * flat_side * flat_side, 1024),
        nn.BatchNorm1d(1024),
        nn.ReLU(inplace=True),
        nn.Linear(1024, 1024),
        nn.BatchNorm1d(1024),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers)


class LuringSvhnCnn(Classifier):
    """Luring paper (Bernhard et al. 2021), Table 3: SVHN base classifier.

    CONV(64)+BN+ReLU, CONV(64)+MAXPOOL+BN+ReLU, the same with 128 and 256 filters (3x3),
    DENSE(1024)+BN+ReLU twice, DENSE(10) (logits). Layer order within a row follows the table
    (conv, max-pool, BN, ReLU). Padding is not stated; we use padding=1 ('same'), as in the
    authors' Keras code. `features` = the second 1024-d ReLU output.
    """

    name = "luring_svhn_cnn"
    widths: tuple[int, int, int] = (64, 128, 256)

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        side = _after_convs(image_size, "ppp", name=self.name)
        self.feature_dim = 1024
        self.trunk = _luring_vgg_trunk(in_channels, self.widths, side)
        self.head = nn.Linear(1024, num_classes)


class LuringCifar10Cnn(LuringSvhnCnn):
    """Luring paper (Bernhard et al. 2021), Table 4: CIFAR10 base classifier.

    As Table 3 (`LuringSvhnCnn`) with 128/256/512 conv filters: CONV+BN+ReLU,
    CONV+MAXPOOL+BN+ReLU per width, DENSE(1024)+BN+ReLU twice, DENSE(10) (logits).
    Padding=1 ('same'), as in the authors' Keras code (not stated in the table).
    """

    name = "luring_cifar10_cnn"
    widths = (128, 256, 512)


class MultitaskOracle(Classifier):
    """Multi-task paper (Wang et al. 2019), Table I, 'Oracles' column (MNIST and CIFAR10).

    Three blocks conv3x3-ReLU, conv3x3-ReLU, maxpool2, dropout 0.2 with 32/32, 64/64, 128/128
    filters, then FC 512+ReLU, dropout 0.2, FC logits. The table does not state padding;
    the convs use padding=1 ('same') because three unpadded blocks do not fit 28x28 input.
    `features` = the 512-d ReLU output (before the final dropout), where the multi-task
    defense attaches its auxiliary head.
    """

    name = "multitask_oracle"

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        side = _after_convs(image_size, "ppp", name=self.name)
        self.feature_dim = 512
        layers: list[nn.Module] = []
        cin = in_channels
        for width in (32, 64, 128):
            layers += [
                *_conv_relu(cin, width, padding=1),
                *_conv_relu(width, width, padding=1),
                nn.MaxPool2d(2),
                nn.Dropout(0.2),
            ]
            cin = width
        layers += [nn.Flatten(), nn.Linear(128 * side * side, 512), nn.ReLU(inplace=True)]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(512, num_classes))


class _MultitaskSubstitute(Classifier):
    """Two unpadded conv-conv-maxpool blocks, two FC+ReLU layers, FC logits; no dropout."""

    widths: tuple[int, int] = (32, 64)
    hidden: int = 200

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        side = _after_convs(image_size, "vvpvvp", name=self.name)
        first, second = self.widths
        self.feature_dim = self.hidden
        self.trunk = nn.Sequential(
            *_conv_relu(in_channels, first),
            *_conv_relu(first, first),
            nn.MaxPool2d(2),
            *_conv_relu(first, second),
            *_conv_relu(second, second),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(second * side * side, self.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(self.hidden, self.hidden),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.hidden, num_classes)


class MultitaskSubstituteMnist(_MultitaskSubstitute):
    """Multi-task paper (Wang et al. 2019), Table I, S_MNIST column.

    conv3x3(32)-ReLU x2, maxpool2, conv3x3(64)-ReLU x2, maxpool2, FC 200+ReLU, FC 200+ReLU,
    FC logits; no dropout (the table shows '-'). Convs are unpadded, like the Carlini-Wagner
    MNIST model it mirrors. `features` = the second 200-d ReLU output.
    """

    name = "multitask_substitute_mnist"
    widths = (32, 64)
    hidden = 200


class MultitaskSubstituteCifar10(_MultitaskSubstitute):
    """Multi-task paper (Wang et al. 2019), Table I, S_CIFAR10 column.

    conv3x3(64)-ReLU x2, maxpool2, conv3x3(128)-ReLU x2, maxpool2, FC 256+ReLU, FC 256+ReLU,
    FC logits; no dropout. Convs are unpadded, like the Carlini-Wagner CIFAR model it mirrors.
    `features` = the second 256-d ReLU output.
    """

    name = "multitask_substitute_cifar10"
    widths = (64, 128)
    hidden = 256


ARCHITECTURES: dict[str, type[Classifier]] = {
    cls.name: cls
    for cls in (
        DeepsecMnistCnn,
        DeepsecResNet20,
        LuringMnistCnn,
        LuringSvhnCnn,
        LuringCifar10Cnn,
        MultitaskOracle,
        MultitaskSubstituteMnist,
        MultitaskSubstituteCifar10,
    )
}


def build_model(name: str, *, in_channels: int, image_size: int, num_classes: int) -> Classifier:
    """Instantiate the registered architecture `name` (freshly initialised, train mode)."""
    try:
        cls = ARCHITECTURES[name]
    except (KeyError, TypeError):
        allowed = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture {name!r}; allowed: {allowed}") from None
    return cls(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
