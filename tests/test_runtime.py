"""Device choice and seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decoybench.runtime import derive_seed, resolve_device, seed_everything, to_float


def test_auto_and_cpu_devices() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no CUDA GPU is available; use 'auto' or 'cpu'"):
        resolve_device("cuda")


def test_unknown_device_lists_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError, match="device 'tpu' is not allowed; allowed values: auto, cpu, cuda"
    ):
        resolve_device("tpu")


def test_derived_seeds_are_stable_distinct_and_in_range() -> None:
    assert derive_seed(0, "train", "victim") == derive_seed(0, "train", "victim")
    seeds = {derive_seed(0, "train", name) for name in ("victim", "s_mnist", "luring")}
    seeds.add(derive_seed(1, "train", "victim"))
    assert len(seeds) == 4
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_seed_everything_makes_draws_repeatable() -> None:
    first = seed_everything(5)
    a = (torch.rand(3), torch.randint(0, 100, (3,), generator=first), np.random.rand())
    second = seed_everything(5)
    b = (torch.rand(3), torch.randint(0, 100, (3,), generator=second), np.random.rand())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]


def test_to_float_scales_uint8_into_the_unit_box() -> None:
    images = np.array([[[[0, 51, 255]]]], dtype=np.uint8)
    tensor = to_float(images)
    assert tensor.dtype == torch.float32
    assert tensor.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_seed_everything_enables_deterministic_kernels_without_loading_dynamo() -> None:
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from decoybench.runtime import seed_everything\n"
        "seed_everything(0)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "assert 'torch._dynamo' not in sys.modules\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
