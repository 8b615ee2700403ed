"""BLB's numbers depend only on the sample, its target and the config (issue 17, defect 5).

The batched BLB solved one L-BFGS-B problem over the concatenated batch: a sample's
example changed with the samples beside it (on the integrated attractor model, the first 25
test images went from 23/23 fooled in the batch of 50 to 6/23 in a batch of 25), and with
OpenBLAS's thread count, which SciPy's solver used on the long vector (46/46, mean L2 4.02,
with one thread; 18/46, 14.56, with two). Each sample is now its own problem, solved with
BLAS on one thread.
"""

from __future__ import annotations

import pytest
import scipy.optimize  # imported first, so that threadpool_limits reaches its BLAS
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from decoybench.attacks.base import AttackResult
from decoybench.attacks.blb import BoxConstrainedLBFGS

pytestmark = pytest.mark.usefixtures("single_thread")

# 50 MNIST-sized inputs, as in the default run's cell: 39,200 variables together, where
# OpenBLAS threads the batched solver's vector arithmetic (19,600 it did not).
SAMPLES = 50


class _SwitchedNet(nn.Module):
    """A small two-convolution net whose logits jump where a quantised projection of the
    input is even: a piecewise-constant switch without gradient, like M_(d,r)'s detector, so
    a last-bit change of a solver step can change which side of a jump a later iterate
    lands on. Its second convolution's input gradient on one image is split across torch's
    threads (a reduction over channels), unlike an MLP's."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.register_buffer("direction", torch.randn(784, generator=generator) / 28)
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3),
            nn.Tanh(),
            nn.Conv2d(8, 8, 3),
            nn.Tanh(),
            nn.Flatten(),
            nn.Linear(8 * 24 * 24, 10),
        )
        with torch.no_grad():
            for parameter in self.net.parameters():
                fan_in = parameter[0].numel() if parameter.dim() > 1 else 10
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = torch.floor(x.detach().flatten(start_dim=1) @ self.direction * 200)
        jump = 4 * nn.functional.one_hot(code.long().remainder(10), 10)
        switched = (code.remainder(2) == 0).unsqueeze(1)
        base = self.net(x)
        return torch.where(switched, base + jump, base)


@pytest.fixture(scope="module")
def problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(model, x, y, target): the fixed-seed switched net, random inputs in [0, 1] and
    targets other than the model's labels."""
    generator = torch.Generator().manual_seed(0)
    model = _SwitchedNet(generator).eval()
    x = torch.rand(SAMPLES, 1, 28, 28, generator=generator)
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    target = (y + 1 + torch.arange(SAMPLES) % 9) % 10
    return model, x, y, target


def _attack(problem, rows: slice | list[int], threads: int = 1) -> AttackResult:
    """BLB on `rows` of the problem with `threads` torch and BLAS threads."""
    model, x, y, target = problem
    attack = BoxConstrainedLBFGS(binary_search_steps=3, max_iterations=30, initial_const=0.1)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            return attack(model, x[rows], y[rows], target=target[rows])
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def batched(problem) -> AttackResult:
    """The whole batch on one thread."""
    return _attack(problem, slice(None))


def test_blb_fools_the_model(batched) -> None:
    """The problem is not trivial: the attack reaches most targets and moves the inputs."""
    assert int(batched.success.sum()) > SAMPLES // 2
    assert float(batched.l2[batched.success].min()) > 0


def test_blb_sample_alone_equals_sample_in_a_batch(problem, batched) -> None:
    """A sample's example, success and queries do not depend on the samples beside it."""
    for index in (0, 7, SAMPLES - 1):
        alone = _attack(problem, slice(index, index + 1))
        assert torch.equal(alone.x_adv[0], batched.x_adv[index]), index
        assert bool(alone.success[0]) == bool(batched.success[index]), index
        assert int(alone.queries[0]) == int(batched.queries[index]), index
    order = [9, 3, 0, 6]
    assert torch.equal(_attack(problem, order).x_adv, batched.x_adv[order])


def test_blb_does_not_depend_on_thread_counts(problem, batched) -> None:
    """Two torch and two BLAS threads give the numbers of one."""
    result = _attack(problem, slice(None), threads=2)
    assert torch.equal(result.x_adv, batched.x_adv)
    assert torch.equal(result.success, batched.success)
    assert torch.equal(result.queries, batched.queries)


def test_blb_solves_one_sample_per_problem_on_one_thread(problem, monkeypatch) -> None:
    """Each L-BFGS-B problem holds one sample's variables, and torch and BLAS run on one
    thread while it is solved, whatever the caller set."""
    from threadpoolctl import threadpool_info

    solve = scipy.optimize.minimize
    seen: list[tuple[int, set[int]]] = []

    def recording(fun, x0, *args, **kwargs):
        blas = {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
        seen.append((len(x0), {torch.get_num_threads(), *blas}))
        return solve(fun, x0, *args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", recording)
    _attack(problem, slice(0, 2), threads=2)
    assert seen and all(size == 784 and threads == {1} for size, threads in seen), seen
