"""MagNet's autoencoders (Meng & Chen, CCS 2017, Table 1) and their denoising training, for
the detectors and the reformer of `decoybench.papers.baselines.magnet`.

Autoencoders (the paper's Table 1; 'same' padding, every layer a 3x3 convolution followed by
a sigmoid, so outputs lie in [0, 1]; the last layer has as many channels as the input):
- "mnist_i"  (MNIST Detector I and reformer): Conv 3, AvgPool 2x2, Conv 3, Conv 3,
  Upsample 2x2 (nearest, as Keras' UpSampling2D), Conv 3, Conv c;
- "mnist_ii" (MNIST Detector II): Conv 3, Conv 3, Conv c;
- "cifar10"  (CIFAR-10 detectors and reformer): Conv 3, Conv 3, Conv c.
Odd spatial sizes: average pooling pads like Keras' padding="same" (ceil) and the upsampled
map is cropped back to the input size, so every autoencoder preserves the input shape.

Training (`train_autoencoder`): minimise the mean squared error between AE(clip(x + n, 0, 1))
and the clean x, n ~ N(0, noise²) (the paper's denoising training; noise "volume" 0.1 on
MNIST), with Adam. Batches are drawn by `torch.randperm(generator=...)` and the noise from the
same generator, so training is deterministic given the generator (on one device). Choices of
ours: the noise is resampled every batch (the authors' code draws it once for the whole
training set), and the paper's L2 regularisation of strength 1e-9 is applied as Adam's
`weight_decay` (the authors' Keras code puts an activity regulariser of that strength on each
layer's output; at 1e-9 either is numerically negligible).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.models.loop import run_epochs
from decoybench.papers.baselines.detector import check_positive_int, placement

__all__ = ["AUTOENCODERS", "build_autoencoder", "train_autoencoder"]

#: Layer lists of the autoencoders: an int is a 3x3 conv + sigmoid with that many channels
#: (None: the input's channel count), "avg" a 2x2 average pooling, "up" a 2x2 upsampling.
AUTOENCODERS: dict[str, tuple[int | str | None, ...]] = {
    "mnist_i": (3, "avg", 3, 3, "up", 3, None),
    "mnist_ii": (3, 3, None),
    "cifar10": (3, 3, None),
}


class _Autoencoder(nn.Module):
    """Sequential convolutional autoencoder that restores the input's spatial size."""

    def __init__(self, layers: tuple[int | str | None, ...], in_channels: int) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        channels = in_channels
        for layer in layers:
            if layer == "avg":
                modules.append(nn.AvgPool2d(2, ceil_mode=True))
            elif layer == "up":
                modules.append(nn.Upsample(scale_factor=2, mode="nearest"))
            else:
                out = in_channels if layer is None else int(layer)
                modules += [nn.Conv2d(channels, out, 3, padding=1), nn.Sigmoid()]
                channels = out
        self.layers = nn.ModuleList(modules)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        for module in self.layers:
            x = module(x)
            if isinstance(module, nn.Upsample):
                x = x[..., :height, :width]
        return x


def build_autoencoder(name: str, in_channels: int) -> nn.Module:
    """The paper's autoencoder `name` ("mnist_i", "mnist_ii", "cifar10") for NCHW images with
    `in_channels` channels; output in [0, 1], same shape as the input."""
    if name not in AUTOENCODERS:
        raise ValueError(f"unknown autoencoder {name!r}; known: {', '.join(AUTOENCODERS)}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
    return _Autoencoder(AUTOENCODERS[name], in_channels)


def train_autoencoder(
    autoencoder: nn.Module,
    images: Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    noise: float,
    generator: torch.Generator,
    weight_decay: float = 1e-9,
) -> list[float]:
    """Denoising training of `autoencoder` on clean `images` (NCHW, in [0, 1]), in place.

    Returns the mean training loss (MSE against the clean images) of each epoch.
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    device, dtype = placement(autoencoder)
    adam = torch.optim.Adam(autoencoder.parameters(), lr=learning_rate, weight_decay=weight_decay)

    def step(batch: tuple[Tensor, ...]) -> Tensor:
        clean = batch[0]
        perturbation = torch.randn(
            clean.shape, generator=generator, device=generator.device, dtype=clean.dtype
        )
        noisy = (clean + noise * perturbation.to(clean.device)).clamp(0.0, 1.0)
        clean = clean.to(device=device, dtype=dtype)
        return F.mse_loss(autoencoder(noisy.to(device=device, dtype=dtype)), clean)

    history = run_epochs(
        step,
        (images,),
        epochs=epochs,
        batch_size=batch_size,
        generator=generator,
        optimizer=adam,
        model=autoencoder,
        description="magnet epoch",
        show_progress=False,
    )
    return [record["train_loss"] for record in history]
