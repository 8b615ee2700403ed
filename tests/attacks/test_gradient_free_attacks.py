"""SPSA and ECO: gradient estimates, bounds, determinism, query counts, effectiveness."""

from __future__ import annotations

import heapq

import pytest
import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack, choose_targets
from decoybench.attacks.eco import ECO, block_ids
from decoybench.attacks.spsa import SPSA, is_adversarial, margin_loss

EPSILON = 0.3


def _smooth_mlp(inputs: int = 784, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A fixed-seed untrained softplus MLP: smooth, so finite differences are meaningful."""
    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(inputs, 64), nn.Softplus(), nn.Linear(64, 10)]
    return nn.Sequential(*layers).to(dtype).eval()


@pytest.fixture(scope="module")
def mnist(tiny_store) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from decoybench.data import load_split
    from decoybench.runtime import to_float

    train, test = load_split(tiny_store, "train"), load_split(tiny_store, "test")
    return (
        to_float(train.images),
        torch.as_tensor(train.labels).long(),
        to_float(test.images),
        torch.as_tensor(test.labels).long(),
    )


@pytest.fixture(scope="module")
def trained(mnist) -> tuple[nn.Module, Tensor, Tensor]:
    """A tiny MLP trained full-batch on the 240 training images; the test images it gets right."""
    x_train, y_train, x_test, y_test = mnist
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        correct = model(x_test).argmax(dim=1) == y_test
    assert correct.sum() >= 15, "the tiny model must get most test images right"
    return model, x_test[correct], y_test[correct]


def _cosine(model: nn.Module, x: Tensor, y: Tensor, samples: int) -> float:
    attack = SPSA(EPSILON, samples=samples, delta=1e-3)
    estimate = attack.estimate_gradient(model, x, y, None, torch.Generator().manual_seed(0))
    x = x.clone().requires_grad_(True)
    (true,) = torch.autograd.grad(margin_loss(model(x), y, targeted=False).sum(), x)
    cosine = nn.functional.cosine_similarity(estimate.flatten(1), true.flatten(1), dim=1)
    return float(cosine.mean())


def test_spsa_gradient_estimate_correlates_with_the_true_gradient(mnist) -> None:
    x, y = mnist[2][:16], mnist[3][:16]
    model = _smooth_mlp()
    cosines = [_cosine(model, x, y, samples) for samples in (32, 256, 2048)]
    assert cosines[2] > 0.5, cosines
    assert cosines[0] < cosines[1] < cosines[2], cosines


def _attacks(max_queries: int = 2000) -> list[Attack]:
    return [SPSA(EPSILON, steps=30, learning_rate=0.03, samples=64), ECO(EPSILON, max_queries)]


@pytest.mark.parametrize("attack", _attacks(), ids=lambda attack: attack.name)
def test_bounds_and_determinism(trained, attack: Attack) -> None:
    model, x, y = trained
    first = attack(model, x, y, generator=torch.Generator().manual_seed(0))
    again = attack(model, x, y, generator=torch.Generator().manual_seed(0))
    assert (first.linf <= EPSILON + 1e-6).all()
    assert first.x_adv.min() >= 0 and first.x_adv.max() <= 1
    assert torch.equal(first.x_adv, again.x_adv) and torch.equal(first.queries, again.queries)
    with torch.no_grad():
        assert torch.equal(first.success, model(first.x_adv).argmax(dim=1) != y)


def test_spsa_differs_under_different_generators(trained) -> None:
    model, x, y = trained
    attack = SPSA(EPSILON, steps=3, samples=16, early_stop=False)
    first = attack(model, x, y, generator=torch.Generator().manual_seed(0))
    other = attack(model, x, y, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(first.x_adv, other.x_adv)


def test_spsa_counts_queries(trained) -> None:
    model, x, y = trained
    steps, samples = 4, 9  # 4 antithetic pairs: 8 queries per step
    plain = SPSA(0.05, steps=steps, samples=samples, early_stop=False)
    result = plain(model, x, y, generator=torch.Generator().manual_seed(0))
    assert (result.queries == 2 * (samples // 2) * steps).all()
    # Early stop adds one query per step (the success check of the iterate) and freezes
    # a sample at its first adversarial iterate: (t − 1)·(2k + 1) + 1 queries at step t.
    per_step = 2 * (samples // 2) + 1
    stopping = SPSA(EPSILON, steps=steps, samples=samples, learning_rate=0.1)
    result = stopping(model, x, y, generator=torch.Generator().manual_seed(0))
    stopped = result.queries != steps * per_step
    assert ((result.queries[stopped] - 1) % per_step == 0).all()
    assert result.success[stopped].all()
    assert stopped.any()
    wrong = (y[:3] + 1) % 10  # already "adversarial": one query, the first check
    result = stopping(model, x[:3], wrong, generator=torch.Generator().manual_seed(0))
    assert (result.queries == 1).all() and result.success.all()


def test_eco_stops_at_success_or_exactly_at_the_query_budget(trained) -> None:
    model, x, y = trained
    result = ECO(0.05, max_queries=40)(model, x, y, generator=torch.Generator().manual_seed(0))
    assert (result.queries <= 40).all() and (result.queries >= 1).all()
    assert (result.queries[~result.success] == 40).all()
    assert (~result.success).any(), "ε = 0.05 within 40 queries must leave some failures"


def test_eco_without_early_stop_spends_the_budget_to_raise_the_margin(trained) -> None:
    """Luring paper, Appendix F.1: no early stopping, the whole budget goes to the margin."""
    model, x, y = trained
    epsilon, budget = 0.1, 500  # some samples succeed early, some exhaust the budget
    stopping = ECO(epsilon, budget)(model, x, y, generator=torch.Generator().manual_seed(0))
    attack = ECO(epsilon, budget, early_stop=False)
    full = attack(model, x, y, generator=torch.Generator().manual_seed(0))
    again = attack(model, x, y, generator=torch.Generator().manual_seed(0))
    # Determinism.
    assert torch.equal(full.x_adv, again.x_adv) and torch.equal(full.queries, again.queries)
    # Queries: more than the early stop spent wherever it stopped early, never over budget.
    early = stopping.success & (stopping.queries < budget)
    assert early.any() and (~stopping.success).any()
    assert (full.queries[early] > stopping.queries[early]).all()
    assert (full.queries <= budget).all() and (full.queries >= 1).all()
    # Margin loss: never below the early-stop one (same search, continued), higher where
    # the early stop cut it short; success is kept.
    with torch.no_grad():
        margin = margin_loss(model(full.x_adv), y, targeted=False)
        stopped_margin = margin_loss(model(stopping.x_adv), y, targeted=False)
    assert (margin >= stopped_margin - 1e-5).all()
    assert (margin[early] > stopped_margin[early]).all()
    assert full.success[stopping.success].all()
    with torch.no_grad():
        assert torch.equal(full.success, model(full.x_adv).argmax(dim=1) != y)
    # Bounds, and the perturbation still sits on the vertices of the ε-ball.
    assert (full.linf <= epsilon + 1e-6).all()
    assert full.x_adv.min() >= 0 and full.x_adv.max() <= 1
    delta = (full.x_adv - x).abs()
    at_box = (full.x_adv == 0) | (full.x_adv == 1)
    assert (((delta - epsilon).abs() < 1e-6) | at_box).all()


@pytest.mark.parametrize(("block", "no_hierarchy"), [(4, False), (2, True)])
@torch.no_grad()
def test_eco_without_early_stop_ends_at_a_local_optimum(block: int, no_hierarchy: bool) -> None:
    """With a budget to spare, the search stops once no block flip of the finest size helps."""
    model = _smooth_mlp(inputs=2 * 6 * 6, dtype=torch.float64)
    x = torch.rand(6, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = model(x).argmax(dim=1)
    epsilon, budget = 0.1, 10_000
    attack = ECO(epsilon, budget, block, 8, no_hierarchy, early_stop=False)
    x_adv, queries = attack.run(model, x, labels, None, torch.Generator().manual_seed(3))
    assert (queries < budget).all(), "the search must converge well within the budget"
    loss = margin_loss(model(x_adv), labels, targeted=False)
    assert (loss > 0).any()  # it did not stop at the first success
    signs = torch.sign(x_adv - x)
    assert (signs != 0).all()
    ids = block_ids(2, 6, 6, block if no_hierarchy else 1, x.device)
    for b in range(int(ids.max()) + 1):
        flipped = torch.where(ids == b, -signs, signs)
        gain = margin_loss(model((x + epsilon * flipped).clamp(0, 1)), labels, False) - loss
        assert (gain <= 1e-12).all(), (b, gain)


@pytest.mark.parametrize(
    "attack", [SPSA(0.0, steps=2, samples=4), ECO(0.0)], ids=lambda attack: attack.name
)
def test_zero_epsilon_returns_the_clean_input(trained, attack: Attack) -> None:
    model, x, y = trained
    y = y.clone()
    y[:2] = (y[:2] + 1) % 10  # the model is "wrong" on these two
    result = attack(model, x, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(result.x_adv, x) and (result.queries == 0).all()
    with torch.no_grad():
        assert torch.equal(result.success, model(x).argmax(dim=1) != y)
    assert result.success[:2].all() and not result.success[2:].any()


def test_attacks_beat_random_sign_noise_and_eco_sits_on_vertices(trained) -> None:
    model, x, y = trained
    sign = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        noisy = model((x + EPSILON * sign).clamp(0, 1)).argmax(dim=1)
    random_rate = float((noisy != y).float().mean())
    for attack in _attacks():
        result = attack(model, x, y, generator=torch.Generator().manual_seed(0))
        rate = float(result.success.float().mean())
        assert rate >= random_rate + 0.3, (attack.name, rate, random_rate)
        if isinstance(attack, ECO):
            delta = (result.x_adv - x).abs()
            at_box = (result.x_adv == 0) | (result.x_adv == 1)
            assert (((delta - EPSILON).abs() < 1e-6) | at_box).all()


def test_targeted_success_means_reaching_the_target(trained) -> None:
    model, x, y = trained
    target = choose_targets("random", model, x, y, torch.Generator().manual_seed(1))
    for attack in _attacks():
        attack.set_target_mode("random")
        result = attack(model, x, y, target=target, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            predicted = model(result.x_adv).argmax(dim=1)
        assert torch.equal(result.success, predicted == target)
        assert result.success.float().mean() >= 0.5, attack.name


class _ReferenceECO:
    """Sequential ECO, one image at a time, with a heapq lazy greedy (keys: −gain)."""

    def __init__(self, attack: ECO, model: nn.Module, labels: Tensor, targeted: bool) -> None:
        self.attack, self.model, self.labels, self.targeted = attack, model, labels, targeted

    def query(self, i: int, signs: Tensor) -> tuple[float, bool]:
        self.queries[i] += 1
        logits = self.model((self.x[i : i + 1] + self.attack.epsilon * signs).clamp(0, 1))
        label = self.labels[i : i + 1]
        return (
            float(margin_loss(logits, label, self.targeted)),
            bool(is_adversarial(logits, label, self.targeted)),
        )

    def phase(self, i: int, ids: Tensor, blocks: Tensor, value: float) -> None:
        def moved(j: int) -> Tensor:
            return torch.where(ids == blocks[j], value, self.signs[i]).unsqueeze(0)

        budget = self.attack.max_queries
        candidates = [j for j, b in enumerate(blocks) if (self.signs[i][ids == b] != value).any()]
        heap: list[tuple[float, int, int]] = []
        version = 0  # bumped at each accepted move: entries of older versions are stale
        stop = self.attack.early_stop
        for j in candidates[: budget - self.queries[i]]:
            new, won = self.query(i, moved(j))
            if won and stop:
                self.signs[i], self.done[i] = moved(j)[0], True
                return
            heapq.heappush(heap, (self.loss[i] - new, j, version))
        while heap and heap[0][0] < 0:
            key, j, seen = heapq.heappop(heap)
            if seen == version:
                self.signs[i], self.loss[i] = moved(j)[0], self.loss[i] - key
                self.moved[i] = True
                version += 1
                continue
            if self.queries[i] >= budget:
                break
            new, won = self.query(i, moved(j))
            if won and stop:
                self.signs[i], self.done[i] = moved(j)[0], True
                return
            heapq.heappush(heap, (self.loss[i] - new, j, version))

    def run(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        batch, channels, height, width = x.shape
        self.x, self.signs = x, -torch.ones_like(x)
        self.queries, self.done, self.loss = [0] * batch, [False] * batch, [0.0] * batch
        stop = self.attack.early_stop
        for i in range(batch):
            self.loss[i], won = self.query(i, self.signs[i : i + 1])
            self.done[i] = won and stop
        size, budget = self.attack.initial_block_size, self.attack.max_queries
        while not all(self.done):
            ids = block_ids(channels, height, width, size, x.device)
            order = torch.rand(batch, int(ids.max()) + 1, generator=generator).argsort(dim=1)
            self.moved = [False] * batch  # accepted moves in this pass
            for start in range(0, order.shape[1], self.attack.batch_size):
                for value in (1.0, -1.0):
                    for i in range(batch):
                        if not self.done[i]:
                            self.phase(
                                i, ids, order[i, start : start + self.attack.batch_size], value
                            )
                            self.done[i] |= self.queries[i] >= budget
                if all(self.done):
                    break
            if not stop and (size == 1 or self.attack.no_hierarchy):
                for i in range(batch):
                    self.done[i] |= not self.moved[i]  # converged: no positive-gain flip
            if size >= 2 and not self.attack.no_hierarchy:
                size //= 2
        return (x + self.attack.epsilon * self.signs).clamp(0, 1), torch.tensor(self.queries)


@pytest.mark.parametrize("early_stop", [True, False])
@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize(
    ("epsilon", "max_queries", "batch_size", "block", "no_hierarchy"),
    [(0.1, 300, 8, 4, False), (0.2, 300, 5, 3, False), (0.05, 150, 64, 2, True)],
)
@torch.no_grad()
def test_eco_matches_a_sequential_heap_based_reference(
    early_stop: bool,
    targeted: bool,
    epsilon: float,
    max_queries: int,
    batch_size: int,
    block: int,
    no_hierarchy: bool,
) -> None:
    """Batched lazy greedy == per-image heapq lazy greedy (float64: no near-ties from noise)."""
    model = _smooth_mlp(inputs=2 * 6 * 6, dtype=torch.float64)
    x = torch.rand(6, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = model(x).argmax(dim=1)
    labels = (labels + 3) % 10 if targeted else labels
    attack = ECO(epsilon, max_queries, block, batch_size, no_hierarchy, early_stop)
    target = labels if targeted else None
    ours, queries = attack.run(model, x, labels, target, torch.Generator().manual_seed(3))
    reference, expected = _ReferenceECO(attack, model, labels, targeted).run(
        x, torch.Generator().manual_seed(3)
    )
    assert torch.equal(queries.cpu(), expected)
    assert torch.equal(ours, reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_attacks_run_on_the_accelerator(trained) -> None:
    model, x, y = trained
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    try:
        for attack in _attacks(max_queries=500):
            result = attack(model, x, y, generator=torch.Generator().manual_seed(0))
            assert (result.linf <= EPSILON + 1e-6).all() and result.success.any()
    finally:
        model.cpu()
