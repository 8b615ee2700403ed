"""Universal adversarial perturbations (Moosavi-Dezfooli et al., CVPR 2017).

ONE perturbation v for the whole batch: passes over the images in a random order; for
every image whose label under clip(x_i + v) is still its clean prediction k(x_i),
DeepFool (Moosavi-Dezfooli et al., CVPR 2016) finds the minimal extra L2 perturbation
that changes it, and v ← P_ε(v + Δv_i) projects onto the L∞ ball (DEEPSEC's setting).
Passes stop once the fooling rate (share of images whose label differs from k(x_i))
reaches `fooling_rate` (the paper's 1 − δ), or after `max_epochs`. Each image then gets
the same v: x_adv = clip(x + v).

The outer loop is sequential over the batch by nature (v changes after every image);
only DeepFool's per-class gradients are batched. Why custom: no PyTorch / Foolbox 3
library implements UAP (ART's `UniversalPerturbation` is a test reference, not a
dependency of the suite).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack

CANDIDATES = 10  # classes DeepFool considers: the top 10, as in the reference code


def deepfool(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int = CANDIDATES,
) -> tuple[Tensor, Tensor, Tensor]:
    """Batched L2 DeepFool: the perturbation r = (1 + overshoot)·Σ r_i after which the
    model stops predicting `labels`, the iterations used and whether it got there.

    Each iteration linearises the model at x + (1 + overshoot)·Σ r_i and steps to the
    nearest linearised boundary among the `candidates` most likely classes at x:
    r_i = (|f_l| + 1e-4)/‖w_l‖² · w_l. The gradients of all candidates come from one
    forward/backward pass on the batch repeated `candidates` times.
    """
    x = x.detach()
    n = len(x)
    with torch.no_grad():
        logits = model(x)
    count = min(candidates, logits.shape[1])
    others = logits.scatter(1, labels.view(-1, 1), float("-inf")).topk(count - 1, dim=1).indices
    classes = torch.cat([labels.view(-1, 1), others], dim=1)  # [n, count], label first
    flat_classes = classes.reshape(-1, 1)
    shape = (n, count, *x.shape[1:])
    r_total = torch.zeros_like(x)
    iterations = torch.zeros(n, dtype=torch.long, device=x.device)
    fooled = torch.zeros(n, dtype=torch.bool, device=x.device)
    for iteration in range(steps + 1):
        point = (x + (1 + overshoot) * r_total).repeat_interleave(count, dim=0)
        point.requires_grad_(True)
        logits = model(point)
        chosen = logits.gather(1, flat_classes)  # [n·count, 1]
        (grads,) = torch.autograd.grad(chosen.sum(), point)
        fooled = logits[::count].argmax(dim=1) != labels
        if bool(fooled.all()) or iteration == steps:
            break
        grads = grads.view(shape)
        values = chosen.detach().view(n, count)
        w = grads[:, 1:] - grads[:, :1]
        f = (values[:, 1:] - values[:, :1]).abs()
        w_norms = w.flatten(start_dim=2).norm(p=2, dim=2).clamp_min(1e-12)
        nearest = (f / w_norms).argmin(dim=1)
        index = nearest.view(n, 1)
        f_l = f.gather(1, index).view(n)
        w_norm_l = w_norms.gather(1, index).view(n)
        w_l = w[torch.arange(n, device=x.device), nearest]
        step = ((f_l + 1e-4) / w_norm_l**2).view(-1, *([1] * (x.dim() - 1))) * w_l
        active = (~fooled).view(-1, *([1] * (x.dim() - 1)))
        r_total = r_total + step * active
        iterations += (~fooled).long()
    return (1 + overshoot) * r_total, iterations, fooled


class UAP(Attack):
    """Universal adversarial perturbation, L∞ (Moosavi-Dezfooli et al., CVPR 2017).

    `fooling_rate`: the target share of fooled images (the paper's 1 − δ, default 0.8 as
    in its δ = 0.2; DEEPSEC's MNIST/CIFAR-10 setting is 0.3). `max_epochs`: passes over
    the batch; `overshoot` and `deepfool_steps`: DeepFool's. The perturbation of the last
    call is `self.perturbation` (shape 1×C×H×W). Queries per sample count every model
    evaluation at that image (DeepFool iterations, label checks, fooling-rate checks).
    """

    name = "uap"
    norm = "linf"
    targeted_modes = ("none",)

    def __init__(
        self,
        epsilon: float,
        fooling_rate: float = 0.8,
        max_epochs: int = 5,
        overshoot: float = 0.02,
        deepfool_steps: int = 50,
    ) -> None:
        self.epsilon = float(epsilon)
        self.fooling_rate = float(fooling_rate)
        self.max_epochs = int(max_epochs)
        self.overshoot = float(overshoot)
        self.deepfool_steps = int(deepfool_steps)
        if not 0.0 <= self.fooling_rate <= 1.0 or self.max_epochs < 1:
            raise ValueError("uap: need 0 ≤ fooling_rate ≤ 1 and max_epochs ≥ 1")
        self._perturbation: Tensor | None = None
        self._reached: float | None = None

    @property
    def perturbation(self) -> Tensor | None:
        """The universal perturbation v of the last call (before clipping into the box)."""
        return self._perturbation

    @property
    def reached_fooling_rate(self) -> float | None:
        """The fooling rate of clip(x + v) on the last call's batch, w.r.t. clean labels."""
        return self._reached

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        x = x.detach()
        n = len(x)
        with torch.no_grad():
            clean = model(x).argmax(dim=1)
        v = torch.zeros_like(x[:1])
        queries = torch.ones(n, dtype=torch.long, device=x.device)
        for _ in range(self.max_epochs):
            with torch.no_grad():
                fooled = model((x + v).clamp(0.0, 1.0)).argmax(dim=1) != clean
            queries += 1
            if float(fooled.float().mean()) >= self.fooling_rate:
                break
            for i in torch.randperm(n, generator=generator).tolist():
                point = (x[i : i + 1] + v).clamp(0.0, 1.0)
                # DeepFool returns at once (r = 0) where the label has already changed.
                r, used, done = deepfool(
                    model, point, clean[i : i + 1], self.deepfool_steps, self.overshoot
                )
                queries[i] += used[0] + 1
                if bool(done[0]):
                    v = (v + r).clamp(-self.epsilon, self.epsilon)
        x_adv = (x + v).clamp(0.0, 1.0)
        with torch.no_grad():
            self._reached = float((model(x_adv).argmax(dim=1) != clean).float().mean())
        queries += 1
        self._perturbation = v.detach()
        return x_adv, queries.cpu()
