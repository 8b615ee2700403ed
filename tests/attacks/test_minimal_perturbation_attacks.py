"""JSMA, BLB and OptMargin on a small CNN trained on real MNIST images.

Each attack is checked against an independent reference: JSMA against ART's
`SaliencyMapMethod`, BLB against a targeted L2 PGD baseline, OptMargin against Foolbox's
C&W L2 (its examples must survive random noise more often). Measured numbers are printed
(`pytest -s`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from decoybench.attacks.base import choose_targets
from decoybench.attacks.blb import BoxConstrainedLBFGS
from decoybench.attacks.jsma import JSMA
from decoybench.attacks.optmargin import OptMargin


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(512, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


@pytest.fixture(scope="module")
def mnist(tiny_store):
    """(model, x, y, random targets): a CNN trained on the 240 training images (~2 s), and
    the 60 held-out images (validation and test splits). One torch thread: these small
    batches gain little from two, and oversubscribed cores slow them down many times."""
    from decoybench.data import load_split
    from decoybench.runtime import to_float

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train = load_split(tiny_store, "train")
    held_out = [load_split(tiny_store, split) for split in ("val", "test")]
    images, labels = to_float(train.images), torch.as_tensor(train.labels).long()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _cnn()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(30):
            for batch in torch.randperm(len(images)).split(32):
                loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    model.eval()
    x = torch.cat([to_float(split.images) for split in held_out])
    y = torch.cat([torch.as_tensor(split.labels) for split in held_out]).long()
    with torch.no_grad():
        assert (model(x).argmax(dim=1) == y).float().mean() > 0.7
    target = choose_targets("random", model, x, y, torch.Generator().manual_seed(0))
    yield model, x, y, target
    torch.set_num_threads(threads)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- JSMA ---------------------------------------------------------------------------------


def test_jsma_success_matches_art_and_respects_gamma_and_theta(mnist) -> None:
    from art.attacks.evasion import SaliencyMapMethod
    from art.estimators.classification import PyTorchClassifier

    model, x, y, target = mnist
    ours = JSMA(theta=1.0, gamma=0.1)(model, x, y, target=target, generator=_generator())
    classifier = PyTorchClassifier(
        model,
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(x.shape[1:]),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    reference = SaliencyMapMethod(classifier, theta=1.0, gamma=0.1, verbose=False)
    art_x = torch.from_numpy(reference.generate(x.numpy(), y=np.eye(10)[target.numpy()]))
    with torch.no_grad():
        art_success = (model(art_x).argmax(dim=1) == target).float().mean().item()
    our_success = ours.success.float().mean().item()
    print(f"\nJSMA success: ours {our_success:.3f}, ART {art_success:.3f} (n={len(x)})")
    assert our_success >= 0.5
    assert abs(our_success - art_success) <= 0.10
    n = x[0].numel()
    assert (ours.l0 <= math.ceil(0.1 * n)).all()
    change = ours.x_adv - x
    assert change.min() >= -1e-6 and change.max() <= 1.0 + 1e-6  # increases only, by ≤ θ


def test_jsma_theta_bounds_each_step_and_queries_count_iterations(mnist) -> None:
    model, x, y, target = mnist
    result = JSMA(theta=0.2, gamma=0.05)(model, x[:6], y[:6], target=target[:6])
    n = x[0].numel()
    assert (result.l0 <= math.floor(0.05 * n)).all()
    assert (result.queries >= 1).all()
    # Every iteration but the last (which finds the sample done) raises two features by
    # at most θ each, and nothing ever decreases.
    assert (result.x_adv >= x[:6] - 1e-6).all()
    l1 = (result.x_adv - x[:6]).abs().flatten(start_dim=1).sum(dim=1)
    assert (l1 <= 2 * 0.2 * (result.queries - 1).float() + 1e-4).all()


# --- BLB ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blb_runs(mnist):
    """BLB with 3 and with 5 binary-search steps (100 L-BFGS-B iterations each)."""
    model, x, y, target = mnist
    x, y, target = x[:30], y[:30], target[:30]
    return {
        steps: BoxConstrainedLBFGS(binary_search_steps=steps, max_iterations=100)(
            model, x, y, target=target, generator=_generator()
        )
        for steps in (3, 5)
    }


def test_blb_reaches_the_target_with_less_l2_than_targeted_pgd(mnist, blb_runs) -> None:
    import foolbox

    model, x, y, target = mnist
    x, y, target = x[:30], y[:30], target[:30]
    result = blb_runs[5]
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    assert (result.queries > 0).all()
    with torch.no_grad():
        assert torch.equal(result.success, model(result.x_adv).argmax(dim=1) == target)
    rate = result.success.float().mean().item()

    torch.manual_seed(0)
    epsilon = 5.0
    _, pgd_x, _ = foolbox.attacks.L2PGD(steps=100, rel_stepsize=0.025)(
        foolbox.PyTorchModel(model, bounds=(0.0, 1.0)),
        x,
        foolbox.criteria.TargetedMisclassification(target),
        epsilons=epsilon,
    )
    with torch.no_grad():
        pgd_success = model(pgd_x).argmax(dim=1) == target
    pgd_l2 = (pgd_x - x).flatten(start_dim=1).norm(dim=1)
    both = result.success & pgd_success
    blb_mean, pgd_mean = result.l2[both].mean().item(), pgd_l2[both].mean().item()
    print(
        f"\nBLB success {rate:.3f}, mean L2 {result.l2[result.success].mean():.3f}; "
        f"L2 PGD (eps {epsilon}) success {pgd_success.float().mean():.3f}; "
        f"on {int(both.sum())} common successes: BLB L2 {blb_mean:.3f} vs PGD {pgd_mean:.3f}"
    )
    assert rate >= 0.8
    assert pgd_success.float().mean() >= 0.5
    assert blb_mean < pgd_mean
    assert result.l2[result.success].mean() < 4.0


def test_blb_more_binary_search_steps_never_worse(blb_runs) -> None:
    """The first three steps of the five-step run are the three-step run, and the best
    example is kept: every success stays a success with no larger L2. (The mean over *all*
    successes may still grow when new, harder samples succeed; it is compared on the
    successes they share.)"""
    few, more = blb_runs[3], blb_runs[5]
    assert (more.success | ~few.success).all()
    shared = few.success
    assert (more.l2[shared] <= few.l2[shared] + 1e-5).all()
    print(
        f"\nBLB mean L2 on the {int(shared.sum())} three-step successes: "
        f"3 steps {few.l2[shared].mean():.3f}, 5 steps {more.l2[shared].mean():.3f}; "
        f"success {few.success.float().mean():.3f} -> {more.success.float().mean():.3f}"
    )
    assert more.l2[shared].mean() <= few.l2[shared].mean() + 1e-6


def test_blb_is_targeted_only(mnist) -> None:
    model, x, y, _ = mnist
    with pytest.raises(ValueError, match="targeted attack"):
        BoxConstrainedLBFGS(max_iterations=2)(model, x[:2], y[:2])


# --- OptMargin ----------------------------------------------------------------------------


def _neighbour_robustness(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, count: int, magnitude: float
) -> torch.Tensor:
    """Per sample, the fraction of `count` fresh uniform L∞ noises of radius `magnitude`
    (Cao & Gong's region classifier) under which x_adv is still misclassified."""
    generator = _generator(123)
    kept = []
    with torch.no_grad():
        for _ in range(count):
            noise = (torch.rand(x_adv.shape, generator=generator) * 2 - 1) * magnitude
            kept.append(model((x_adv + noise).clamp(0, 1)).argmax(dim=1) != y)
    return torch.stack(kept, dim=1).float().mean(dim=1)


def test_optmargin_examples_survive_noise_better_than_carlini_wagner(mnist) -> None:
    import foolbox

    model, x, y, _ = mnist
    x, y = x[:15], y[:15]
    attack = OptMargin(binary_search_steps=2, max_iterations=100, initial_const=1.0)
    result = attack(model, x, y, generator=_generator())
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    rate = result.success.float().mean().item()
    assert rate >= 0.8

    _, cw_x, cw_success = foolbox.attacks.L2CarliniWagnerAttack(
        binary_search_steps=5, steps=100, stepsize=0.05, initial_const=1.0
    )(foolbox.PyTorchModel(model, bounds=(0.0, 1.0)), x, y, epsilons=None)
    cw_l2 = (cw_x - x).flatten(start_dim=1).norm(dim=1)
    count, magnitude = attack.noise_count, attack.noise_magnitude
    om_kept = _neighbour_robustness(model, result.x_adv, y, count, magnitude)[result.success]
    cw_kept = _neighbour_robustness(model, cw_x, y, count, magnitude)[cw_success]
    print(
        f"\nOptMargin success {rate:.3f}, mean L2 {result.l2[result.success].mean():.3f}, "
        f"noisy neighbours still adversarial {om_kept.mean():.3f}; C&W success "
        f"{cw_success.float().mean():.3f}, mean L2 {cw_l2[cw_success].mean():.3f}, "
        f"neighbours {cw_kept.mean():.3f}"
    )
    assert om_kept.mean() > cw_kept.mean() + 0.1


def test_optmargin_is_untargeted_only(mnist) -> None:
    model, x, y, target = mnist
    with pytest.raises(ValueError, match="cannot be targeted"):
        OptMargin(max_iterations=2)(model, x[:2], y[:2], target=target[:2])


# --- all three ----------------------------------------------------------------------------

_SMALL = {
    "jsma": (lambda: JSMA(), True),
    "blb": (lambda: BoxConstrainedLBFGS(binary_search_steps=2, max_iterations=20), True),
    "optmargin": (
        lambda: OptMargin(
            initial_const=1.0, binary_search_steps=1, max_iterations=20, noise_count=5
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(_SMALL))
def test_deterministic_with_queries_and_inputs_checked(mnist, name) -> None:
    model, x, y, target = mnist
    build, targeted = _SMALL[name]
    x, y, target = x[:4], y[:4], target[:4] if targeted else None
    attack = build()
    assert attack.name == name and attack.epsilon is None
    first = attack(model, x, y, target=target, generator=_generator(5))
    again = attack(model, x, y, target=target, generator=_generator(5))
    assert torch.equal(first.x_adv, again.x_adv)
    assert torch.equal(first.queries, again.queries)
    assert (first.queries > 0).all()
    assert first.x_adv.min() >= 0 and first.x_adv.max() <= 1
    with pytest.raises(ValueError, match=r"inputs must lie in \[0, 1\]"):
        attack(model, x * 2 - 0.5, y, target=target)
    if name == "optmargin":  # the noise comes from the generator
        other = attack(model, x, y, target=target, generator=_generator(6))
        assert not torch.equal(first.x_adv, other.x_adv)
