"""Nearest attractors: QIM-embed a class's message into an input (paper Sec. V-E, Fig. 7)."""

from __future__ import annotations

import torch
from torch import Tensor

from decoybench.papers.attractors.qim import PIXEL_SCALE, QIMDecoder

__all__ = ["nearest_attractor"]


@torch.no_grad()
def nearest_attractor(
    decoder: QIMDecoder, x: Tensor, label: Tensor | int, *, within_box: bool = True
) -> Tensor:
    """QIM-embed message `label` into x (per sample if `label` is a tensor of shape (N,)).

    Each input value moves to the nearest point that minimizes its own part of Q(x, m_label),
    f(v) = Σ α q(v, m_label[bit], δ) over the terms reading it. Values covered by no term
    are left unchanged. The result decodes to `label` (`QIMDecoder.decoded_label`, argmin Q).

    * within_box=True (default): a valid image. Only codewords in [0, 255] are candidates,
      and the value goes to the nearest of those minimizing f among them: with one interval
      per value ("split") the nearest in-box codeword of its bit's coset (q = 0); with stacked
      intervals the codeword of the scale that dominates the weighted cost (the 128-step
      coset when it carries the larger weight). A value can move up to 1.5δ (e.g. 0 → 192
      for δ = 128, bit 1, the nearer codeword −64 being outside). The result is in [0, 1].
      Use it to build attractor *inputs* (attacks, detector tests).
    * within_box=False: the lattice attractor, the point W's gradient pulls towards.
      qim_distance measures to the whole lattice (2k + m + 0.5)δ, k ∈ ℤ (item 9 of the
      `decoybench.papers.attractors.defense` docstring), so at a saturated pixel ∇W points to
      the nearest *lattice* codeword, possibly outside [0, 255]. Each value goes to the
      nearest local minimizer of f on the lattice: for one interval per value the nearest
      codeword of its bit's coset (q = 0, within δ: 0 → −64 for δ = 128, bit 1); for stacked
      intervals the nearest codeword of the dominant scale (when its α exceeds the sum of the
      others'). Not clamped: the result may leave [0, 1]. The Fig. 7 analysis keeps it as a
      diagnostic beside the valid attractor (`decoybench.papers.attractors.analysis`).
    """
    labels = torch.as_tensor(label, dtype=torch.int64, device=x.device)
    if labels.dim() == 0:
        labels = labels.expand(x.shape[0])
    if labels.shape != (x.shape[0],):
        raise ValueError(f"label must be an int or a tensor of shape ({x.shape[0]},)")
    if bool((labels < 0).any()) or bool((labels >= decoder.num_classes).any()):
        raise ValueError(f"labels must lie in [0, {decoder.num_classes})")
    values = x.detach().flatten(start_dim=1).to(torch.float64) * PIXEL_SCALE
    embedded = values.clone()
    for target in labels.unique().tolist():
        rows = (labels == target).nonzero().flatten()
        for members, best in decoder._attractor_plan(int(target), within_box):
            members, best = members.to(x.device), best.to(x.device)
            current = values[rows][:, members]  # (r, p)
            nearest = (current.unsqueeze(-1) - best).abs().argmin(dim=-1)
            embedded[rows.unsqueeze(1), members.unsqueeze(0)] = best[nearest]
    embedded = embedded / PIXEL_SCALE
    if within_box:
        embedded = embedded.clamp(0.0, 1.0)
    return embedded.to(x.dtype).view_as(x)
