"""The one epoch loop every trainer runs: seeded shuffling, batching, schedule, progress, logs.

A trainer supplies a step function: it takes one batch (the data tensors indexed by the
batch's sample indices) and returns the batch's mean loss as a tensor, optionally with a
mapping of batch totals (e.g. correct predictions, already summed over the batch). The loop
owns everything around it, in a fixed order that keeps training reproducible by seed:

    for each epoch e = 1..epochs:
        set the rate learning_rate(e − 1) on every parameter group (if given);
        model.train() (if given);
        order = randperm(N, generator);          # the epoch's only draw of the loop itself
        for each batch of `batch_size` indices of order (the last one may be partial):
            optimizer.zero_grad(set_to_none=True); loss = step(batch);
            loss.backward(); optimizer.step();
            totals["loss"] += loss.item() · len(batch); totals[k] += the step's totals
        scheduler.step() (if given);
        record = summarize(Epoch(...)); log it; append it to the history
    model.eval() (if given)

Draws the step makes from the same generator (augmentation, noise) interleave with the
loop's permutations exactly as in a hand-written loop.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import torch
from torch import Tensor, nn
from tqdm import tqdm

__all__ = ["Epoch", "StepFunction", "StepResult", "run_epochs"]

logger = logging.getLogger(__name__)

#: A step's result: the batch's mean loss, or (mean loss, batch totals to add up).
StepResult = Tensor | tuple[Tensor, Mapping[str, float]]
StepFunction = Callable[[tuple[Tensor, ...]], StepResult]


@dataclass(frozen=True)
class Epoch:
    """One finished epoch: its number (from 1), the rate the loop set (None without a
    `learning_rate` schedule), the training-set size, and the summed batch totals ("loss" is
    Σ loss·batch size)."""

    number: int
    learning_rate: float | None
    samples: int
    totals: dict[str, float] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        """totals[key] / samples (e.g. the mean training loss for "loss")."""
        return self.totals[key] / self.samples


def _default_summary(epoch: Epoch) -> dict[str, Any]:
    record: dict[str, Any] = {"epoch": epoch.number}
    if epoch.learning_rate is not None:
        record["learning_rate"] = epoch.learning_rate
    record["train_loss"] = epoch.mean("loss")
    return record


def _add(totals: dict[str, float], key: str, value: float) -> None:
    totals[key] = totals.get(key, 0) + value


def _run_batches(
    step: StepFunction,
    data: Sequence[Tensor],
    order: Tensor,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    bar: Any,
) -> dict[str, float]:
    """One pass over `order` in batches; returns the summed totals."""
    totals: dict[str, float] = {"loss": 0.0}
    for batch in bar:
        index = order[batch * batch_size : (batch + 1) * batch_size]
        tensors = tuple(tensor[index.to(tensor.device)] for tensor in data)
        optimizer.zero_grad(set_to_none=True)
        result = step(tensors)
        loss, extra = (result, {}) if isinstance(result, Tensor) else result
        loss.backward()
        optimizer.step()
        _add(totals, "loss", loss.item() * len(index))
        for key, value in extra.items():
            _add(totals, key, value)
    return totals


def run_epochs(
    step: StepFunction,
    data: Sequence[Tensor],
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer,
    model: nn.Module | None = None,
    learning_rate: Callable[[int], float] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    summarize: Callable[[Epoch], dict[str, Any]] = _default_summary,
    description: str = "epoch",
    progress: TextIO | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Train for `epochs` over `data` (tensors of equal length, indexed together) with
    `step`; returns one `summarize` record per epoch (module docstring for the order).

    `learning_rate(completed_epochs)` sets each epoch's rate; `scheduler` is stepped after
    each epoch. Bars (`description` e/epochs) go to `progress` (default stderr) unless
    `show_progress` is False; each record is logged at INFO as "`description` e: record".
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    count = len(data[0])
    if any(len(tensor) != count for tensor in data):
        raise ValueError("the data tensors must all have the same length")
    batches = -(-count // batch_size)
    history: list[dict[str, Any]] = []
    for number in range(1, epochs + 1):
        rate = None if learning_rate is None else learning_rate(number - 1)
        if rate is not None:
            for group in optimizer.param_groups:
                group["lr"] = rate
        if model is not None:
            model.train()
        order = torch.randperm(count, generator=generator, device=generator.device)
        bar = tqdm(
            range(batches),
            desc=f"{description} {number}/{epochs}",
            file=progress or sys.stderr,
            mininterval=2.0,
            ascii=True,
            disable=not show_progress,
        )
        totals = _run_batches(step, data, order, batch_size, optimizer, bar)
        bar.close()
        if scheduler is not None:
            scheduler.step()
        record = summarize(Epoch(number, rate, count, totals))
        logger.info("%s %d: %s", description, number, record)
        history.append(record)
    if model is not None:
        model.eval()
    return history
