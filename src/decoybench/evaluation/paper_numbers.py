"""The papers' own numbers, printed beside ours in every table (quoted, not measured).

Keys are the suite's dataset names; `mnist5k` is compared with the paper's full-MNIST figures
(the subset is smaller, so expect a gap in accuracy).
"""

from __future__ import annotations

# Attractors paper (Zhang et al. 2020), Table II: clean accuracy on 10,000 test images.
ATTRACTORS_TABLE_II: dict[str, dict[str, float]] = {
    "mnist": {"victim": 0.981, "defended": 0.980},
    "cifar10": {"victim": 0.901, "defended": 0.900},
}
PAPER_DATASET = {"mnist5k": "mnist", "mnist": "mnist", "cifar10": "cifar10", "svhn": "svhn"}
