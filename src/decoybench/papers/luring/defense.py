"""The luring defense: a component P in front of a frozen target M (Bernhard et al., 2021).

The augmented model T = M∘P (Sec. 2.3) answers M's logits on P(x). P is trained with the
luring loss (Sec. 2.4, Eq. 2, Algorithm 1) from M's predictions alone (no labels), or with one
of the paper's comparison objectives (Sec. 3.1): Stack, Auto, C.E. `LURING_COMPONENTS` holds
the P architectures of Appendix B (Tables 5-7); `PAPER_SCHEDULES` their training schedules
(Appendix B) and luring coefficients (Appendix C).

Where the paper is silent or ambiguous, this module chooses as follows.

1. Class b of Eq. 2. The paper: "a and b correspond to the second maximum value of h^M and
   h^{M∘P}" (Alg. 1, line 6: "class of the 2nd max value of h^{M∘P}(x_i)"). Read literally,
   when M∘P's top class c differs from M(x) and M(x) is M∘P's runner-up, b = M(x) and the
   hinge max(0, h_b − h_{M(x)}) is 0 although M∘P misclassifies, which contradicts the stated
   purpose of the term (it "ensures that h_{M(x)}^{M∘P} is the highest logit value"). We take
   b = argmax_{j ≠ M(x)} h_j^{M∘P}, the best class other than M(x). It is the literal second
   maximum whenever M∘P agrees with M (the hinge is then 0), and the hinge is active exactly
   when M∘P's top class is not M(x). a = argmax_{j ≠ M(x)} h_j^M is unambiguous, since
   M(x) = argmax h^M (ties: the lowest class index, torch.argmax's rule). a and b are chosen
   without gradient; the loss is the batch mean (Alg. 1, line 9).
2. Table 5 (MNIST P) has two MAXPOOL(2,2) but three UPSAMPLING(2,2) rows: read literally, a
   28×28 input comes out 56×56, which M cannot take. The table is the convolutional
   autoencoder of the Keras tutorial ("Building Autoencoders in Keras", Chollet 2016) layer for
   layer, except for the pooling after the third convolution; we insert that MAXPOOL. As in
   that model, pooling is 'same' (ceil mode: 7 → 4) and CONV(16) before the last upsampling
   is unpadded where that is what brings the image back to its size (28: 16 → 14 → 28;
   padding 1 for sizes where 'same' fits). The table gives CONV(16) no activation; we keep it
   linear, as printed (the tutorial has a ReLU there).
3. Padding of the other 3×3 convolutions is not stated: 'same' (padding 1), as the shapes
   require. Pooling uses ceil mode everywhere (no effect on 32×32 inputs). Upsampling is
   nearest-neighbour (Keras UpSampling2D's default).
4. The last CONV has 1 (MNIST) or 3 filters: we give it `in_channels` filters, so P maps
   images to images of the same shape.
5. "CONV + BN + RELU" is conv → batch norm → activation. Convolutions keep their bias (Keras'
   default); batch norm and all initializations are PyTorch's defaults, as for the base
   classifiers of `decoybench.models.architectures` (Keras: Glorot-uniform init, BN
   momentum 0.99 / eps 1e-3).
6. Range: every table ends with SIGMOID, which is range-limiting; P's output lies in [0, 1]
   (float32 saturation gives exactly 0 or 1 at worst), no clipping is added.
7. "Dropout is used" (SVHN Luring; CIFAR10 C_E and Luring) without rate or placement: when
   `dropout > 0`, an element-wise dropout follows every hidden ReLU; `PAPER_SCHEDULES` records
   the rate `PAPER_DROPOUT` = 0.25 (our choice) for build_component(..., dropout=...).
   Dropout masks, and Stack's re-initialization, are drawn from the global RNG inside a scope
   seeded from `generator`, so training is deterministic given the generator and leaves the
   global RNG as it was.
8. Stack ("M∘P is retrained as a whole with the cross-entropy loss", on the true labels):
   a copy of M is trained with P; by default the copy starts from M's trained weights, and
   `reinitialize=True` resets it first (the paper's "retrained" and its CIFAR10 Stack
   schedule, equal to the base classifier's, suggest training from scratch). M itself is
   untouched; the returned model holds the copy.
9. Auto ("an auto-encoder trained separately with binary cross-entropy"): BCE between P(x)
   and x; M plays no part in its training.
10. C.E ("cross-entropy loss between the confidence score vectors M∘P(x) and M(x) in order
    to mimic the decision of M"): cross-entropy of M∘P's logits against M's predicted labels
    (hard targets). The wording also admits soft targets (softmax of M) — not implemented.
11. Schedules (Appendix B) are encoded as printed, in epochs (Alg. 1's K steps = epochs ×
    ⌈N/B⌉; each epoch a seeded shuffle, last partial batch kept, as in
    `decoybench.models.training`). The piecewise learning rates are explicit values, not a
    constant decay factor; MNIST's C_E/Luring "0.001, decreasing to 0.0002 and 0.0004" is
    kept although its last step *increases* the rate (0.00004 may be meant). The paper trains
    no Auto component on CIFAR10 (Sec. 4.3, Appendix C): `PAPER_SCHEDULES` has none.
12. Agreement. Sec. 2.3's prediction neutrality is M∘P(x) = M(x): `agreement` is the share of
    inputs where both models predict the same label. Table 8's AGREE is defined as "augmented
    and target model agree on the ground-truth label" (AGREE ≤ TEST in every cell): with
    `labels`, `agreement` counts the inputs where both predict the true label.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TextIO

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.metrics import Rate
from decoybench.models.loop import Epoch, run_epochs
from decoybench.models.training import TrainingRecipe, predict

__all__ = [
    "APPROACHES",
    "LURING_COMPONENTS",
    "PAPER_DROPOUT",
    "PAPER_SCHEDULES",
    "AugmentedModel",
    "ComponentRecipe",
    "LuringCifar10Component",
    "LuringComponent",
    "LuringMnistComponent",
    "LuringSvhnComponent",
    "agreement",
    "autoencoder_loss",
    "build_component",
    "cross_entropy_loss",
    "luring_loss",
    "paper_recipe",
    "stack_loss",
    "train_component",
]

APPROACHES: tuple[str, ...] = ("luring", "stack", "auto", "cross_entropy")
PAPER_DROPOUT = 0.25  # "Dropout is used" (Appendix B); the rate is our choice (ambiguity 7)


# --------------------------------------------------------------------------------------------
# Component P (Appendix B, Tables 5-7)


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


# --------------------------------------------------------------------------------------------
# The augmented model T = M∘P (Sec. 2.3)


class AugmentedModel(nn.Module):
    """T = M∘P: `forward(x)` = M's logits on P(x).

    With `freeze_target` (the default, every approach but Stack) M's parameters get
    requires_grad False and M stays in eval mode when the wrapper is put in train mode; the
    caller's M is frozen in place.
    """

    def __init__(self, component: nn.Module, target: nn.Module, *, freeze_target: bool = True):
        super().__init__()
        self.component = component
        self.target = target
        self.freeze_target = freeze_target
        if freeze_target:
            target.requires_grad_(False)
            target.eval()

    def train(self, mode: bool = True) -> AugmentedModel:
        super().train(mode)
        if self.freeze_target:
            self.target.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Logits h^{M∘P}(x), shape (N, num_classes)."""
        return self.target(self.component(x))


# --------------------------------------------------------------------------------------------
# Objectives (Eq. 2; Sec. 3.1)


def _best_other(logits: Tensor, excluded: Tensor) -> Tensor:
    """Per row, the class of the largest logit other than `excluded`."""
    mask = F.one_hot(excluded, logits.shape[1]).bool()
    return logits.masked_fill(mask, float("-inf")).argmax(dim=1)


def _pick(logits: Tensor, classes: Tensor) -> Tensor:
    return logits.gather(1, classes[:, None]).squeeze(1)


def luring_loss(
    augmented_logits: Tensor, target_logits: Tensor, luring_coefficient: float
) -> Tensor:
    """Eq. 2, batch mean: −λ(h_{M(x)}^{M∘P} − h_a^{M∘P}) + max(0, h_b^{M∘P} − h_{M(x)}^{M∘P}).

    `augmented_logits` h^{M∘P}(x) and `target_logits` h^M(x) are (N, C); M(x) = argmax h^M,
    a = argmax_{j≠M(x)} h^M_j, b = argmax_{j≠M(x)} h^{M∘P}_j (module docstring, item 1).
    Gradients flow through `augmented_logits` only. λ ≥ 0 (the paper: λ > 0).
    """
    if augmented_logits.dim() != 2 or augmented_logits.shape != target_logits.shape:
        raise ValueError(
            f"logits must be two (N, C) tensors of equal shape, got "
            f"{tuple(augmented_logits.shape)} and {tuple(target_logits.shape)}"
        )
    if augmented_logits.shape[1] < 2:
        raise ValueError("the luring loss needs at least two classes")
    if luring_coefficient < 0:
        raise ValueError(f"luring_coefficient must be >= 0, got {luring_coefficient!r}")
    reference = target_logits.detach()
    predicted = reference.argmax(dim=1)
    a = _best_other(reference, predicted)
    b = _best_other(augmented_logits.detach(), predicted)
    top = _pick(augmented_logits, predicted)
    gap = top - _pick(augmented_logits, a)
    hinge = torch.clamp(_pick(augmented_logits, b) - top, min=0.0)
    return (-luring_coefficient * gap + hinge).mean()


def stack_loss(augmented_logits: Tensor, labels: Tensor) -> Tensor:
    """Stack (Sec. 3.1): cross-entropy of M∘P on the true labels."""
    return F.cross_entropy(augmented_logits, labels)


def autoencoder_loss(reconstruction: Tensor, images: Tensor) -> Tensor:
    """Auto (Sec. 3.1): binary cross-entropy between P(x) and x, mean over pixels."""
    return F.binary_cross_entropy(reconstruction, images)


def cross_entropy_loss(augmented_logits: Tensor, target_logits: Tensor) -> Tensor:
    """C.E (Sec. 3.1): cross-entropy of M∘P against M's predicted labels (item 10)."""
    return F.cross_entropy(augmented_logits, target_logits.detach().argmax(dim=1))


# --------------------------------------------------------------------------------------------
# Schedules (Appendix B, C)


@dataclass(frozen=True)
class ComponentRecipe:
    """Schedule of one component: epochs, batch size, optimizer and piecewise learning rates.

    The rate is `learning_rates[k]` once `lr_milestones[k-1]` epochs are done (the paper's
    "decreasing to r1 and r2 after e1 and e2 epochs"). `luring_coefficient` λ is used by the
    luring approach only; `dropout` is the rate to build the component with (item 7).
    """

    epochs: int
    batch_size: int
    learning_rates: tuple[float, ...]
    lr_milestones: tuple[int, ...] = ()
    optimizer: str = "adam"
    luring_coefficient: float = 1.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "learning_rates", tuple(float(v) for v in self.learning_rates))
        object.__setattr__(self, "lr_milestones", tuple(int(v) for v in self.lr_milestones))
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if len(self.learning_rates) != len(self.lr_milestones) + 1:
            raise ValueError("learning_rates needs one value more than lr_milestones")
        if min(self.learning_rates) <= 0 or list(self.lr_milestones) != sorted(
            set(self.lr_milestones)
        ):
            raise ValueError("learning rates must be positive and milestones strictly increasing")
        if self.luring_coefficient < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("luring_coefficient must be >= 0 and dropout in [0, 1)")

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> ComponentRecipe:
        """Recipe from a (YAML/JSON) mapping of the field names."""
        return cls(**entry)

    def learning_rate_at(self, completed_epochs: int) -> float:
        """The rate of the epoch that follows `completed_epochs` finished epochs."""
        return self.learning_rates[bisect.bisect_right(self.lr_milestones, completed_epochs)]

    def training_recipe(self) -> TrainingRecipe:
        """The matching `TrainingRecipe` (its optimizer factory, at the initial rate)."""
        return TrainingRecipe(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            learning_rate=self.learning_rates[0],
            lr_milestones=self.lr_milestones,
        )


# Appendix B, per data set and approach (all Adam); λ from Appendix C.
_MNIST_PIECEWISE = ComponentRecipe(64, 64, (1e-3, 2e-4, 4e-4), (45, 58))  # sic, item 11
_SVHN_PIECEWISE = ComponentRecipe(210, 256, (1e-4, 1e-5, 8e-6), (126, 168))
_CIFAR10_PIECEWISE = ComponentRecipe(216, 256, (1e-5, 5e-6, 8e-7), (154, 185))
PAPER_SCHEDULES: dict[str, dict[str, ComponentRecipe]] = {
    "mnist": {
        "stack": ComponentRecipe(5, 28, (1e-3,)),
        "auto": ComponentRecipe(50, 128, (1e-3,)),
        "cross_entropy": _MNIST_PIECEWISE,
        "luring": replace(_MNIST_PIECEWISE, luring_coefficient=1.0),
    },
    "svhn": {
        "stack": ComponentRecipe(20, 256, (1e-3,)),
        "auto": ComponentRecipe(5, 128, (1e-3,)),
        "cross_entropy": _SVHN_PIECEWISE,
        "luring": replace(_SVHN_PIECEWISE, luring_coefficient=1.0, dropout=PAPER_DROPOUT),
    },
    "cifar10": {
        "stack": ComponentRecipe(200, 32, (0.1, 0.01, 0.001), (80, 120)),
        "cross_entropy": replace(_CIFAR10_PIECEWISE, dropout=PAPER_DROPOUT),
        "luring": replace(_CIFAR10_PIECEWISE, luring_coefficient=0.15, dropout=PAPER_DROPOUT),
    },
}


def paper_recipe(dataset: str, approach: str) -> ComponentRecipe:
    """`PAPER_SCHEDULES[dataset][approach]`, with a readable error where the paper has none."""
    if dataset not in PAPER_SCHEDULES:
        raise ValueError(
            f"no paper schedule for data set {dataset!r}; allowed: mnist, svhn, cifar10"
        )
    if approach not in PAPER_SCHEDULES[dataset]:
        raise ValueError(
            f"the paper has no {approach!r} schedule for {dataset!r} (CIFAR10 has no Auto model, "
            f"Sec. 4.3); allowed: {', '.join(PAPER_SCHEDULES[dataset])}"
        )
    return PAPER_SCHEDULES[dataset][approach]


# --------------------------------------------------------------------------------------------
# Training (Algorithm 1 and the comparison approaches)


def agreement(
    model_a: nn.Module,
    model_b: nn.Module,
    images: Tensor,
    batch_size: int = 500,
    *,
    labels: Tensor | None = None,
) -> Rate:
    """Share of `images` on which both models (put in eval mode) predict the same label.

    With `labels`: the share on which both predict the true label, Table 8's AGREE (item 12).
    Reported beside each model's accuracy, `decoybench.metrics.accuracy`.
    """
    model_a.eval()
    model_b.eval()
    first, second = predict(model_a, images, batch_size), predict(model_b, images, batch_size)
    same = first == second
    if labels is not None:
        same &= first == torch.as_tensor(labels).reshape(-1)
    return Rate.of(same)


def _check_images(images: Tensor, what: str) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"{what} must be a float (N, C, H, W) tensor in [0, 1] (see to_float)")
    if images.numel() and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
        raise ValueError(f"{what} must lie in [0, 1]")


@contextmanager
def _global_rng_seeded_from(generator: torch.Generator, device: torch.device) -> Iterator[None]:
    """Seed the global RNG (dropout, re-initialization) from `generator`; restore it after."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _reset_parameters(module: nn.Module) -> None:
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()


def _augmented_for(
    approach: str, component: nn.Module, target: nn.Module, reinitialize: bool
) -> AugmentedModel:
    if approach != "stack":
        return AugmentedModel(component, target)
    trainable = copy.deepcopy(target).requires_grad_(True)
    if reinitialize:
        _reset_parameters(trainable)
    return AugmentedModel(component, trainable, freeze_target=False)


@torch.no_grad()
def _logits(model: nn.Module, images: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """h^M on all images (model in eval mode), on the CPU."""
    model.eval()
    chunks = [
        model(images[start : start + batch_size].to(device)).cpu()
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks)


def _training_targets(
    approach: str,
    target: nn.Module,
    images: Tensor,
    labels: Tensor | None,
    batch_size: int,
    device: torch.device,
) -> Tensor:
    """What each batch is compared with: M's logits (luring, C.E), labels (Stack), x (Auto)."""
    if approach == "stack":
        if labels is None or len(labels) != len(images):
            raise ValueError("the stack approach needs train_labels, one per training image")
        return torch.as_tensor(labels, dtype=torch.long)
    if approach == "auto":
        return images
    return _logits(target, images, batch_size, device)


def _batch_loss(
    approach: str, model: AugmentedModel, inputs: Tensor, targets: Tensor, coefficient: float
) -> Tensor:
    if approach == "auto":
        return autoencoder_loss(model.component(inputs), targets)
    logits = model(inputs)
    if approach == "luring":
        return luring_loss(logits, targets, coefficient)
    if approach == "stack":
        return stack_loss(logits, targets)
    return cross_entropy_loss(logits, targets)


def _fit(
    approach: str,
    model: AugmentedModel,
    reference: nn.Module,
    data: tuple[Tensor, Tensor],
    recipe: ComponentRecipe,
    generator: torch.Generator,
    validation_images: Tensor | None,
    progress: TextIO | None,
) -> list[dict[str, float]]:
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    device = next(model.parameters()).device

    def step(batch: tuple[Tensor, ...]) -> Tensor:
        inputs, targets = batch[0].to(device), batch[1].to(device)
        return _batch_loss(approach, model, inputs, targets, recipe.luring_coefficient)

    def summarize(epoch: Epoch) -> dict[str, float]:
        record = {
            "epoch": epoch.number,
            "learning_rate": epoch.learning_rate,
            "train_loss": epoch.mean("loss"),
        }
        if validation_images is not None:
            record["val_agreement"] = agreement(
                model, reference, validation_images, recipe.batch_size
            ).value
        return record

    return run_epochs(
        step,
        data,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        generator=generator,
        optimizer=recipe.training_recipe().make_optimizer(trainable),
        model=model,
        learning_rate=recipe.learning_rate_at,
        summarize=summarize,
        description=f"{approach} epoch",
        progress=progress,
    )


def train_component(
    approach: str,
    component: nn.Module,
    target: nn.Module,
    train_images: Tensor,
    *,
    recipe: ComponentRecipe,
    generator: torch.Generator,
    validation_images: Tensor | None = None,
    progress: TextIO | None = None,
    train_labels: Tensor | None = None,
    reinitialize: bool = False,
) -> dict[str, Any]:
    """Train P (`component`, in place) for `approach` in front of M (`target`).

    "luring": Algorithm 1 with Eq. 2 (M's predictions, no labels); "cross_entropy": C.E;
    "auto": P as an autoencoder; "stack": P and a copy of M on `train_labels` (item 8).
    Images are float (N, C, H, W) in [0, 1]; training runs on M's device and is
    deterministic given `generator` (batch order, dropout masks). Returns {"approach",
    "history": per-epoch {epoch, learning_rate, train_loss[, val_agreement]} with
    val_agreement = `agreement`(M∘P, M) on `validation_images`, "model": the trained M∘P
    in eval mode}.
    """
    if approach not in APPROACHES:
        raise ValueError(f"approach {approach!r} is not one of {', '.join(APPROACHES)}")
    _check_images(train_images, "train_images")
    if validation_images is not None:
        _check_images(validation_images, "validation_images")
    device = next(target.parameters()).device
    component.to(device)
    with _global_rng_seeded_from(generator, device):
        model = _augmented_for(approach, component, target, reinitialize)
        data = (
            train_images,
            _training_targets(
                approach, target, train_images, train_labels, recipe.batch_size, device
            ),
        )
        history = _fit(
            approach, model, target, data, recipe, generator, validation_images, progress
        )
    model.eval()
    return {"approach": approach, "history": history, "model": model}
