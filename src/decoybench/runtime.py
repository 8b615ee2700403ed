"""Device choice, seeding and determinism: same config and seed, same numbers on CPU."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when available, else CPU; `cuda` without a GPU is an error."""
    if requested not in DEVICES:
        raise ValueError(
            f"device {requested!r} is not allowed; allowed values: {', '.join(DEVICES)}"
        )
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'"
        )
    return torch.device(requested)


def derive_seed(seed: int, *names: str) -> int:
    """A 63-bit seed derived from the global seed and names (e.g. the model name).

    Different jobs get independent streams; the same names always give the same seed.
    """
    material = "/".join([str(seed), *names]).encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") >> 1


def _use_deterministic_algorithms() -> None:
    """torch.use_deterministic_algorithms(True, warn_only=True) without its import of
    torch._inductor.config, which loads TorchDynamo (~0.85 s, in every job; nothing here
    uses torch.compile): the setting itself is the C-level flag that function sets."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # a torch without the private setter: the public call
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    setter(True, warn_only=True)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; enable deterministic kernels; return a CPU generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _use_deterministic_algorithms()
    torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """torch's intra-op threads and every loaded BLAS library held to one thread inside,
    the previous counts restored after.

    For results that must not depend on the machine's or the job's thread count: a float
    reduction split across threads adds in another order, and an iterative solver can carry
    one last-bit difference across a model's jumps (BLB on the integrated attractor model:
    46/46 fooled with one OpenBLAS thread, 18/46 with two). threadpoolctl reaches only the
    libraries already loaded, so import them first (e.g. scipy.optimize).
    """
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)


def to_float(images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images (N×C×H×W, 0..255) -> float32 tensor in [0, 1] on `device`."""
    tensor = torch.as_tensor(images)
    return (tensor.to(device=device, dtype=torch.float32) / 255.0).contiguous()
