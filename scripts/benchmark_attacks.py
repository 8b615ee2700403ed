"""Benchmark the iterative gradient attacks against their floor and their peers.

For each attack: wall time of `steps` iterations on one batch, divided by the time of the
same number of bare forward+backward passes (gradient w.r.t. the input, parameters frozen);
the same ratio for Foolbox and torchattacks where they have the attack. Prints a Markdown
table and optionally writes it as CSV. Not a test: timings depend on the machine.

    python scripts/benchmark_attacks.py --batch 256 --steps 40 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from decoybench.attacks.registry import ATTACKS, build
from decoybench.data import load_source
from decoybench.models import build_model
from decoybench.runtime import resolve_device, to_float


def interleaved_medians(
    functions: dict[str, Callable[[], object]], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median wall time of each function over `repeats` rounds, one call of each per round
    (after one warm-up call each), so drift on a shared machine hits all of them alike."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {label: [] for label in functions}
    for _ in range(repeats):
        for label, function in functions.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            function()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[label].append(time.perf_counter() - started)
    return {label: statistics.median(values) for label, values in times.items()}


def bare_passes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """The floor: `steps` forward+backward passes w.r.t. the input."""
    loss_function = nn.CrossEntropyLoss()
    for _ in range(steps):
        point = x.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(loss_function(model(point), y), point)
        del gradient


def peers(epsilon: float, step: float, steps: int) -> dict[str, dict[str, Callable]]:
    """attack name -> {"foolbox": f(model, x, y), "torchattacks": f(model, x, y)}."""
    import foolbox
    import torchattacks

    def run_foolbox(attack: object) -> Callable:
        def call(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> object:
            wrapped = foolbox.PyTorchModel(model, bounds=(0, 1), device=x.device)
            return attack(wrapped, x, y, epsilons=epsilon)  # type: ignore[operator]

        return call

    def run_torchattacks(factory: Callable[[nn.Module], object]) -> Callable:
        return lambda model, x, y: factory(model)(x, y)  # type: ignore[operator]

    fa = foolbox.attacks
    return {
        "linf_pgd": {
            "foolbox": run_foolbox(fa.LinfPGD(abs_stepsize=step, steps=steps)),
            "torchattacks": run_torchattacks(
                lambda m: torchattacks.PGD(m, eps=epsilon, alpha=step, steps=steps)
            ),
        },
        "bim": {
            "foolbox": run_foolbox(fa.LinfBasicIterativeAttack(abs_stepsize=step, steps=steps)),
            "torchattacks": run_torchattacks(
                lambda m: torchattacks.BIM(m, eps=epsilon, alpha=step, steps=steps)
            ),
        },
        "mim": {
            "foolbox": run_foolbox(
                fa.LinfMomentumIterativeFastGradientMethod(abs_stepsize=step, steps=steps)
            ),
            "torchattacks": run_torchattacks(
                lambda m: torchattacks.MIFGSM(m, eps=epsilon, alpha=step, steps=steps)
            ),
        },
        "dim": {
            "torchattacks": run_torchattacks(
                lambda m: torchattacks.DIFGSM(m, eps=epsilon, alpha=step, steps=steps)
            ),
        },
        "mim_ti": {
            "torchattacks": run_torchattacks(
                lambda m: torchattacks.TIFGSM(
                    m, eps=epsilon, alpha=step, steps=steps, diversity_prob=0.0
                )
            ),
        },
        "dim_ti": {
            "torchattacks": run_torchattacks(
                lambda m: torchattacks.TIFGSM(m, eps=epsilon, alpha=step, steps=steps)
            ),
        },
    }


def ours(name: str, epsilon: float, step: float, steps: int) -> Callable:
    """Our attack `name` configured like its peers (absolute step, no random start)."""
    parameters = set(ATTACKS[name].__init__.__code__.co_varnames)
    options: dict[str, object] = {"epsilon": epsilon, "steps": steps}
    options["abs_stepsize" if "abs_stepsize" in parameters else "step_size"] = step
    if "random_start" in parameters:
        options["random_start"] = False
    attack = build(name, **options)
    return lambda model, x, y: attack(model, x, y, generator=torch.Generator().manual_seed(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="deepsec_mnist_cnn")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--attacks", nargs="*", default=["linf_pgd", "bim", "mim", "dim", "mim_ti", "dim_ti"]
    )
    parser.add_argument("--out", type=Path, help="also write the table as CSV here")
    arguments = parser.parse_args()

    torch.set_num_threads(arguments.threads)
    device = resolve_device(arguments.device)
    raw = load_source("mnist5k", "downloads")
    x = to_float(raw.images[: arguments.batch], device)
    y = torch.as_tensor(raw.labels[: arguments.batch], device=device)
    torch.manual_seed(0)
    model = build_model(arguments.architecture, in_channels=1, image_size=28, num_classes=10)
    model = model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    step = arguments.epsilon / 10
    candidates = peers(arguments.epsilon, step, arguments.steps)
    rows = []
    for name in arguments.attacks:
        if name not in ATTACKS:
            print(f"skipping {name}: not registered")
            continue
        implementations = {
            "floor": lambda: bare_passes(model, x, y, arguments.steps),
            "ours": ours(name, arguments.epsilon, step, arguments.steps),
        }
        implementations.update(candidates.get(name, {}))
        runnable: dict[str, Callable[[], object]] = {}
        for label, call in implementations.items():
            bound = call if label == "floor" else (lambda call=call: call(model, x, y))
            try:
                bound()
            except RuntimeError as error:  # e.g. torchattacks' TIFGSM assumes 3 channels
                print(f"{name}/{label} cannot run here: {str(error).splitlines()[0]}")
                continue
            runnable[label] = bound
        medians = interleaved_medians(runnable, arguments.repeats, device)
        row: dict[str, object] = {"attack": name, "floor_s": medians.pop("floor")}
        for label, seconds in medians.items():
            row[f"{label}_s"] = seconds
            row[f"{label}_ratio"] = seconds / row["floor_s"]  # type: ignore[operator]
        rows.append(row)
    table = pd.DataFrame(rows)
    print(
        f"{arguments.architecture}, batch {arguments.batch}, {arguments.steps} steps, "
        f"{arguments.threads} threads, {device}, median of {arguments.repeats} interleaved "
        f"rounds; floor = {arguments.steps} bare forward+backward passes, timed in each round"
    )
    print(table.to_markdown(index=False, floatfmt=".2f"))
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(arguments.out, index=False)


if __name__ == "__main__":
    main()
