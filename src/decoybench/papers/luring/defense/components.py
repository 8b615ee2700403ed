"""The luring component P: the architectures of Appendix B, Tables 5-7 (Bernhard et al., 2021).

`LURING_COMPONENTS` maps a data set to its P; `build_component` builds a fresh one. The
readings of the tables (items 2-7) are listed in `decoybench.papers.luring.defense`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

__all__ = [
    "LURING_COMPONENTS",
    "LuringCifar10Component",
    "LuringComponent",
    "LuringMnistComponent",
    "LuringSvhnComponent",
    "build_component",
]


@dataclass(frozen=True)
class _Conv:
    """One CONV(filters,3,3) row; filters None = the image's channel count (the last row)."""

    filters: int | None
    batch_norm: bool = False
    activation: str | None = "relu"  # "relu", "sigmoid" or None
    fit: bool = False  # padding 0 or 1, whichever brings the image back to its size


_POOL = "maxpool"
_UP = "upsampling"
_Layer = _Conv | str


def _bn(filters: int | None, activation: str | None = "relu") -> _Conv:
    return _Conv(filters, batch_norm=True, activation=activation)


def _fit_padding(rest: Sequence[_Layer], size: int, image_size: int, name: str) -> int:
    """Padding of a `fit` conv: its output, upsampled by the rest's UPSAMPLINGs, = image_size."""
    scale = 2 ** sum(layer == _UP for layer in rest)
    padding, remainder = divmod(image_size // scale - size + 2, 2)
    if image_size % scale or remainder or padding not in (0, 1):
        raise ValueError(f"{name}: image_size={image_size} is not supported by this component")
    return padding


def _conv_block(
    layer: _Conv, channels: int, in_channels: int, padding: int, dropout: float
) -> list[nn.Module]:
    filters = layer.filters or in_channels
    block: list[nn.Module] = [nn.Conv2d(channels, filters, 3, padding=padding)]
    if layer.batch_norm:
        block.append(nn.BatchNorm2d(filters))
    if layer.activation == "relu":
        block.append(nn.ReLU(inplace=True))
        if dropout > 0:
            block.append(nn.Dropout(dropout))
    elif layer.activation == "sigmoid":
        block.append(nn.Sigmoid())
    return block


def _build_layers(
    spec: Sequence[_Layer], in_channels: int, image_size: int, dropout: float, name: str
) -> list[nn.Module]:
    """Modules of a table, tracking the spatial size; ValueError if it does not come back."""
    modules: list[nn.Module] = []
    channels, size = in_channels, image_size
    for position, layer in enumerate(spec):
        if layer == _POOL:
            modules.append(nn.MaxPool2d(2, ceil_mode=True))
            size = -(-size // 2)
        elif layer == _UP:
            modules.append(nn.Upsample(scale_factor=2, mode="nearest"))
            size *= 2
        else:
            assert isinstance(layer, _Conv)
            padding = 1
            if layer.fit:
                padding = _fit_padding(spec[position + 1 :], size, image_size, name)
            modules += _conv_block(layer, channels, in_channels, padding, dropout)
            channels, size = layer.filters or in_channels, size + 2 * padding - 2
        if size < 1:
            raise ValueError(f"{name}: image_size={image_size} is too small for this component")
    if size != image_size:
        raise ValueError(f"{name}: image_size={image_size} is not supported by this component")
    return modules


class LuringComponent(nn.Module):
    """P: X → X, images in [0, 1] of shape (N, C, H, W) to images of the same shape in [0, 1].

    Subclasses set `name` and `layers` (the table's rows); `net` is the built nn.Sequential.
    """

    name: str = ""
    layers: tuple[_Layer, ...] = ()

    def __init__(self, *, in_channels: int, image_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        for key, value in (("in_channels", in_channels), ("image_size", image_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{self.name}: {key} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{self.name}: dropout must lie in [0, 1), got {dropout!r}")
        self.in_channels, self.image_size, self.dropout = in_channels, image_size, dropout
        self.net = nn.Sequential(
            *_build_layers(self.layers, in_channels, image_size, dropout, self.name)
        )

    def forward(self, x: Tensor) -> Tensor:
        """P(x), same shape as x, values in [0, 1] (final sigmoid)."""
        return self.net(x)


class LuringMnistComponent(LuringComponent):
    """Table 5 (MNIST): CONV(16)+RELU, MAXPOOL, CONV(8)+RELU, MAXPOOL, CONV(8)+RELU,
    [MAXPOOL: inserted, ambiguity 2], CONV(8)+RELU, UP, CONV(8)+RELU, UP, CONV(16) (linear,
    unpadded at 28×28), UP, CONV(1)+SIGMOID. 3×3 kernels, 2×2 pooling/upsampling; no BN.
    """

    name = "luring_mnist_component"
    layers = (
        _Conv(16),
        _POOL,
        _Conv(8),
        _POOL,
        _Conv(8),
        _POOL,
        _Conv(8),
        _UP,
        _Conv(8),
        _UP,
        _Conv(16, activation=None, fit=True),
        _UP,
        _Conv(None, activation="sigmoid"),
    )


class LuringSvhnComponent(LuringComponent):
    """Table 6 (SVHN): CONV+BN+RELU with 128, MAXPOOL, 256, MAXPOOL, 512, 1024, MAXPOOL, 512,
    512, UP, 256, UP, 128, UP, 64 filters, then CONV(3)+BN+SIGMOID. 3×3 'same' convolutions.
    """

    name = "luring_svhn_component"
    layers = (
        _bn(128),
        _POOL,
        _bn(256),
        _POOL,
        _bn(512),
        _bn(1024),
        _POOL,
        _bn(512),
        _bn(512),
        _UP,
        _bn(256),
        _UP,
        _bn(128),
        _UP,
        _bn(64),
        _bn(None, activation="sigmoid"),
    )


class LuringCifar10Component(LuringComponent):
    """Table 7 (CIFAR10): CONV+BN+RELU with 128, 256, MAXPOOL, 512, 1024, 512, 512, 256, UP,
    128, 64 filters, then CONV(3)+BN+SIGMOID. 3×3 'same' convolutions.
    """

    name = "luring_cifar10_component"
    layers = (
        _bn(128),
        _bn(256),
        _POOL,
        _bn(512),
        _bn(1024),
        _bn(512),
        _bn(512),
        _bn(256),
        _UP,
        _bn(128),
        _bn(64),
        _bn(None, activation="sigmoid"),
    )


LURING_COMPONENTS: dict[str, type[LuringComponent]] = {
    "mnist": LuringMnistComponent,
    "svhn": LuringSvhnComponent,
    "cifar10": LuringCifar10Component,
}


def build_component(
    name: str, in_channels: int, image_size: int, *, dropout: float = 0.0
) -> LuringComponent:
    """A freshly initialised component P of dataset `name` (Alg. 1, line 2), in train mode."""
    try:
        cls = LURING_COMPONENTS[name]
    except (KeyError, TypeError):
        allowed = ", ".join(sorted(LURING_COMPONENTS))
        raise ValueError(f"unknown luring component {name!r}; allowed: {allowed}") from None
    return cls(in_channels=in_channels, image_size=image_size, dropout=dropout)
