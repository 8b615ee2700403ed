"""ECO, the parsimonious black-box attack (Moon, An & Song, ICML 2019, "Parsimonious Black-Box
Adversarial Attacks via Efficient Combinatorial Optimization").

The L∞ problem is relaxed to the vertices of the ε-ball: every block of pixels (per
channel) sits at +ε or −ε, and the set S of blocks at +ε is optimized by accelerated local
search (lazy-greedy insertions, then lazy-greedy deletions) on mini-batches of blocks, with
a hierarchy that halves the block size after each pass over all blocks.

Custom implementation: neither Foolbox nor torchattacks provides it.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack
from decoybench.attacks.spsa import (
    MAX_FORWARD_VALUES,
    chunked_forward,
    is_adversarial,
    margin_loss,
)


def block_ids(channels: int, height: int, width: int, size: int, device: torch.device) -> Tensor:
    """(C, H, W) map of block indices: size×size squares per channel (edge blocks smaller)."""
    rows = math.ceil(height / size)
    cols = math.ceil(width / size)
    channel = torch.arange(channels, device=device).view(-1, 1, 1) * (rows * cols)
    row = (torch.arange(height, device=device) // size).view(1, -1, 1) * cols
    col = (torch.arange(width, device=device) // size).view(1, 1, -1)
    return channel + row + col


class ECO(Attack):
    """Parsimonious attack (ECO), L∞, with the paper's margin loss on logits.

    The perturbation starts at −ε everywhere. Blocks are visited in a random order (one
    permutation per image, from the generator) in mini-batches of `batch_size` blocks; on
    each mini-batch the attack runs one lazy-greedy insertion phase (set blocks to +ε) and
    one lazy-greedy deletion phase (set them back to −ε). A phase queries the marginal gain
    of every candidate block of the mini-batch (one batched forward across all images
    still attacking), then repeatedly takes the block with the largest stale gain,
    re-queries it if its gain is stale and accepts it if it is fresh, the largest and
    positive; one re-query per image per forward. After a pass over all blocks the block
    size halves (hierarchical refinement, down to 1 pixel) unless `no_hierarchy`.

    `initial_block_size=4` and `batch_size=64` are the paper's settings for 32×32 CIFAR-10
    images; MNIST (28×28) uses the same (7×7 blocks, then 14×14, then single pixels).

    Queries are counted as a sequential attacker would spend them: the starting point (1),
    each marginal-gain query, and, in a batched sweep that reaches an adversarial example,
    only the queries up to it. With `early_stop` (the default) a sample stops at success or
    at `max_queries`, never beyond.

    `early_stop=False` is the luring paper's setting (Appendix F.1: early stopping "results
    in less transferable adversarial examples"): success no longer ends the search, which
    keeps increasing the margin loss until the sample has spent exactly `max_queries`, or
    until the local search has converged: a whole pass over all blocks at the finest block
    size (1 pixel, or `initial_block_size` under `no_hierarchy`) without a single accepted
    move, i.e. no block flip with a positive gain is left. Accepted moves only ever increase
    the loss, so the returned image is the highest-loss one found.
    """

    name: ClassVar[str] = "eco"
    norm: ClassVar[str] = "linf"
    targeted_modes: ClassVar[tuple[str, ...]] = ("none", "random", "least_likely")
    gradient_free: ClassVar[bool] = True

    def __init__(
        self,
        epsilon: float,
        max_queries: int = 10000,
        initial_block_size: int = 4,
        batch_size: int = 64,
        no_hierarchy: bool = False,
        early_stop: bool = True,
    ) -> None:
        if int(max_queries) < 1:
            raise ValueError(f"eco: max_queries must be >= 1, got {max_queries}")
        if int(initial_block_size) < 1:
            raise ValueError(f"eco: initial_block_size must be >= 1, got {initial_block_size}")
        if int(batch_size) < 1:
            raise ValueError(f"eco: batch_size must be >= 1, got {batch_size}")
        self.epsilon = float(epsilon)
        self.max_queries = int(max_queries)
        self.initial_block_size = int(initial_block_size)
        self.batch_size = int(batch_size)
        self.no_hierarchy = bool(no_hierarchy)
        self.early_stop = bool(early_stop)

    @torch.no_grad()
    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        state = _SearchState(self, model, x, y if target is None else target, target is not None)
        size = self.initial_block_size
        channels, height, width = x.shape[1:]
        while not state.done.all():
            ids = block_ids(channels, height, width, size, x.device)
            count = int(ids.max()) + 1
            order = torch.rand(len(x), count, generator=generator).argsort(dim=1).to(x.device)
            state.moved.zero_()
            for start in range(0, count, self.batch_size):
                blocks = order[:, start : start + self.batch_size]
                state.lazy_greedy(ids, blocks, insert=True)
                state.lazy_greedy(ids, blocks, insert=False)
                if state.done.all():
                    break
            finest = self.no_hierarchy or size == 1
            if not self.early_stop and finest:
                # A pass without a single accepted move: no positive-gain flip is left.
                state.done |= ~state.moved
            if not self.no_hierarchy and size >= 2:
                size //= 2
        return state.adversarial(), state.queries


class _SearchState:
    """Per-image signs, current loss, query counts, stop flags and moves of one ECO run."""

    def __init__(
        self, attack: ECO, model: nn.Module, x: Tensor, labels: Tensor, targeted: bool
    ) -> None:
        self.model, self.x, self.labels, self.targeted = model, x, labels, targeted
        self.epsilon, self.max_queries = attack.epsilon, attack.max_queries
        self.early_stop = attack.early_stop
        self.signs = -torch.ones_like(x)
        logits = chunked_forward(model, self.adversarial())
        self.loss = margin_loss(logits, labels, targeted)
        self.queries = torch.ones(len(x), dtype=torch.long, device=x.device)
        won = is_adversarial(logits, labels, targeted) & self.early_stop
        self.done = won | (self.queries >= self.max_queries)
        self.moved = torch.zeros(len(x), dtype=torch.bool, device=x.device)  # in this pass

    def adversarial(self, signs: Tensor | None = None, index: Tensor | None = None) -> Tensor:
        """x + ε·signs clipped to [0, 1] (all images, or those in `index`)."""
        x = self.x if index is None else self.x[index]
        signs = self.signs if signs is None else signs
        return (x + self.epsilon * signs).clamp(0.0, 1.0)

    def _with_block(self, index: Tensor, ids: Tensor, block: Tensor, value: float) -> Tensor:
        """Signs of images `index` with block `block[k]` of image `index[k]` set to `value`."""
        inside = ids.unsqueeze(0) == block.view(-1, 1, 1, 1)
        return torch.where(inside, value, self.signs[index])

    def _query(
        self, index: Tensor, ids: Tensor, block: Tensor, value: float
    ) -> tuple[Tensor, Tensor]:
        """Margin loss and success of flipping one block per (image, block) pair, chunked.

        Without early stopping success never ends the search: it is reported as False.
        """
        per_input = max(self.x[0].numel(), 1)
        size = max(1, MAX_FORWARD_VALUES // per_input)
        losses, wins = [], []
        for start in range(0, len(index), size):
            part, part_block = index[start : start + size], block[start : start + size]
            signs = self._with_block(part, ids, part_block, value)
            logits = self.model(self.adversarial(signs, part))
            losses.append(margin_loss(logits, self.labels[part], self.targeted))
            wins.append(is_adversarial(logits, self.labels[part], self.targeted))
        if not losses:
            empty = torch.empty(0, dtype=self.loss.dtype, device=self.x.device)
            return empty, empty.bool()
        return torch.cat(losses), torch.cat(wins) & self.early_stop

    def _set_block(self, index: Tensor, ids: Tensor, block: Tensor, value: float) -> None:
        if len(index):
            self.signs[index] = self._with_block(index, ids, block, value)
            self.moved[index] = True

    def lazy_greedy(self, ids: Tensor, blocks: Tensor, insert: bool) -> None:
        """One lazy-greedy insertion (blocks → +ε) or deletion (→ −ε) phase on `blocks`."""
        value = 1.0 if insert else -1.0
        batch, width = blocks.shape
        device = self.x.device
        rows = torch.arange(batch, device=device)
        # Candidates: blocks of the mini-batch not already entirely at `value`.
        flat_ids = ids.flatten().expand(batch, -1)
        at_value = torch.zeros(batch, int(ids.max()) + 1, device=device)
        at_value.scatter_add_(1, flat_ids, (self.signs.flatten(1) == value).to(at_value.dtype))
        sizes = torch.bincount(ids.flatten()).to(at_value.dtype)
        full = at_value == sizes
        valid = ~full.gather(1, blocks) & ~self.done.unsqueeze(1)
        # Budget: only as many candidates as the remaining queries allow.
        rank = valid.long().cumsum(dim=1)
        valid &= rank <= (self.max_queries - self.queries).unsqueeze(1)
        rank = valid.long().cumsum(dim=1)
        # Initial sweep: fresh marginal gains of every candidate.
        image, column = valid.nonzero(as_tuple=True)
        loss, win = self._query(image, ids, blocks[image, column], value)
        gains = torch.full((batch, width), float("-inf"), dtype=self.loss.dtype, device=device)
        gains[image, column] = loss - self.loss[image]
        wins = torch.zeros(batch, width, dtype=torch.bool, device=device)
        wins[image, column] = win
        won = wins.any(dim=1)
        first_win = wins.long().argmax(dim=1)
        spent = torch.where(won, rank.gather(1, first_win.view(-1, 1)).squeeze(1), rank[:, -1])
        self.queries += spent
        winners = won.nonzero().squeeze(1)
        winner_blocks = blocks[winners, first_win[winners]]
        self._set_block(winners, ids, winner_blocks, value)
        self.loss[winners] = self.loss[winners] + gains[winners, first_win[winners]]
        self.done |= won | (self.queries >= self.max_queries)
        fresh = valid.clone()
        active = valid.any(dim=1) & ~self.done
        # Lazy evaluation: stale gains upper-bound the fresh ones (submodularity heuristic).
        while active.any():
            best_gain, best = gains.max(dim=1)
            active &= best_gain > 0
            is_fresh = fresh[rows, best]
            accept = (active & is_fresh).nonzero().squeeze(1)
            self._set_block(accept, ids, blocks[accept, best[accept]], value)
            self.loss[accept] += best_gain[accept]
            gains[accept, best[accept]] = float("-inf")
            fresh[accept] = False
            stale = active & ~is_fresh
            out_of_budget = stale & (self.queries >= self.max_queries)
            self.done |= out_of_budget
            active &= ~out_of_budget
            index = (stale & ~out_of_budget).nonzero().squeeze(1)
            loss, win = self._query(index, ids, blocks[index, best[index]], value)
            self.queries[index] += 1
            gains[index, best[index]] = loss - self.loss[index]
            fresh[index, best[index]] = True
            winners = index[win]
            self._set_block(winners, ids, blocks[winners, best[winners]], value)
            self.loss[winners] = loss[win]
            self.done[winners] = True
            active[winners] = False
            active &= torch.isfinite(gains).any(dim=1)
        self.done |= self.queries >= self.max_queries
