"""The shared epoch loop: steps, batches, schedules, seeded order, totals, progress, logs."""

from __future__ import annotations

import io
import logging

import pytest
import torch
from torch import Tensor, nn

from decoybench.models.loop import Epoch, run_epochs


class _Recorder:
    """A step on one scalar parameter w (loss = w): records batches, lr and train mode."""

    def __init__(self, rate: float = 1.0) -> None:
        self.model = nn.Linear(1, 1, bias=False)
        nn.init.zeros_(self.model.weight)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=rate)
        self.batches: list[list[int]] = []
        self.rates: list[float] = []
        self.modes: list[bool] = []

    def __call__(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, float]]:
        self.batches.append(batch[0].tolist())
        self.rates.append(self.optimizer.param_groups[0]["lr"])
        self.modes.append(self.model.training)
        loss = self.model.weight.sum() + batch[0].float().mean()
        return loss, {"seen": len(batch[0])}

    def run(self, data: tuple[Tensor, ...], **options) -> list[dict]:
        options = {"epochs": 3, "batch_size": 4, "show_progress": False, **options}
        options.setdefault("generator", torch.Generator().manual_seed(0))
        return run_epochs(self, data, optimizer=self.optimizer, model=self.model, **options)


def _flat(batches: list[list[int]]) -> list[int]:
    return [index for batch in batches for index in batch]


def test_steps_batches_and_totals() -> None:
    step = _Recorder()
    history = step.run((torch.arange(10),))
    assert [len(batch) for batch in step.batches] == [4, 4, 2] * 3  # last batch kept partial
    for epoch in range(3):
        seen = _flat(step.batches[3 * epoch : 3 * epoch + 3])
        assert sorted(seen) == list(range(10)), "each epoch visits every sample once"
    # 9 SGD steps of lr 1 on loss = w + c: w = -9 exactly, so zero_grad ran before each.
    assert step.model.weight.item() == -9.0
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "train_loss"}
    # Σ loss·n / N with loss = w + mean(batch): epoch 1 runs at w = 0, -1, -2.
    first = step.batches[:3]
    expected = sum((sum(b) / len(b) - k) * len(b) for k, b in enumerate(first)) / 10
    assert history[0]["train_loss"] == pytest.approx(expected)
    assert all(step.modes) and not step.model.training, "train mode in steps, eval after"


def test_totals_reach_the_summary() -> None:
    seen: list[Epoch] = []

    def summarize(epoch: Epoch) -> dict:
        seen.append(epoch)
        return {"seen": epoch.totals["seen"], "share": epoch.mean("seen")}

    history = _Recorder().run((torch.arange(10), torch.zeros(10)), summarize=summarize)
    assert history == [{"seen": 10, "share": 1.0}] * 3
    assert [epoch.number for epoch in seen] == [1, 2, 3]
    assert all(epoch.samples == 10 and epoch.learning_rate is None for epoch in seen)


def test_batch_order_is_the_generators_permutations() -> None:
    step = _Recorder()
    step.run((torch.arange(10),), generator=torch.Generator().manual_seed(5))
    reference = torch.Generator().manual_seed(5)
    for epoch in range(3):
        order = torch.randperm(10, generator=reference).tolist()
        assert _flat(step.batches[3 * epoch : 3 * epoch + 3]) == order

    again, other = _Recorder(), _Recorder()
    again.run((torch.arange(10),), generator=torch.Generator().manual_seed(5))
    other.run((torch.arange(10),), generator=torch.Generator().manual_seed(6))
    assert again.batches == step.batches and other.batches != step.batches


def test_step_draws_interleave_with_the_permutations() -> None:
    """A step drawing from the same generator sees what a hand-written loop would."""
    generator = torch.Generator().manual_seed(1)
    noise: list[float] = []

    def step(batch: tuple[Tensor, ...]) -> Tensor:
        noise.append(float(torch.rand(1, generator=generator)))
        return weight.sum() * 0 + batch[0].float().sum()

    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    run_epochs(
        step,
        (torch.arange(6),),
        epochs=2,
        batch_size=3,
        generator=generator,
        optimizer=optimizer,
        show_progress=False,
    )
    reference = torch.Generator().manual_seed(1)
    expected = []
    for _ in range(2):
        torch.randperm(6, generator=reference)
        expected += [float(torch.rand(1, generator=reference)) for _ in range(2)]
    assert noise == expected


def test_learning_rate_schedule_is_set_before_each_epoch() -> None:
    step = _Recorder()
    history = step.run((torch.arange(8),), learning_rate=lambda done: [0.5, 0.25, 0.125][done])
    assert step.rates == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert [record["learning_rate"] for record in history] == [0.5, 0.25, 0.125]
    assert list(history[0]) == ["epoch", "learning_rate", "train_loss"]


def test_scheduler_steps_after_each_epoch() -> None:
    step = _Recorder(rate=1.0)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        step.optimizer, milestones=[1, 2, 3], gamma=0.5
    )
    step.run((torch.arange(8),), scheduler=scheduler)
    assert step.rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert step.optimizer.param_groups[0]["lr"] == 0.125, "stepped after the last epoch too"


def test_progress_bars_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="decoybench.models.loop")
    stream = io.StringIO()
    _Recorder().run((torch.arange(8),), progress=stream, show_progress=True, description="aux")
    assert "aux 1/3" in stream.getvalue() and "aux 3/3" in stream.getvalue()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3 and messages[0].startswith("aux 1: {'epoch': 1")
    quiet = io.StringIO()
    _Recorder().run((torch.arange(8),), progress=quiet, show_progress=False)
    assert quiet.getvalue() == ""


def test_zero_epochs_and_bad_arguments() -> None:
    step = _Recorder()
    assert step.run((torch.arange(4),), epochs=0) == [] and step.batches == []
    with pytest.raises(ValueError, match="same length"):
        step.run((torch.arange(4), torch.arange(5)))
    with pytest.raises(ValueError, match="batch_size >= 1"):
        step.run((torch.arange(4),), batch_size=0)
