"""Cell evaluation: what counts as a success on the target."""

from __future__ import annotations

import json

import numpy as np
import torch

from decoybench.cells.score import evaluate_adversarial_set
from decoybench.data import load_split
from decoybench.io import write_npz
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import predict
from decoybench.runtime import to_float


def test_blank_outputs_never_count_as_successes(tiny_store, tiny_victim, tmp_path) -> None:
    """Foolbox's C&W returns an all-black image where it found nothing; a target that
    misclassifies it is not fooled (docs/design.md, Pitfalls)."""
    model, _ = load_checkpoint(tiny_victim)
    test = load_split(tiny_store, "test")
    clean = to_float(test.images)
    labels = torch.as_tensor(test.labels)
    clean_predictions = predict(model, clean)
    x_adv = clean.clone()
    x_adv[:10] = 0.0  # ten blank "adversarial examples"; the rest are the clean images
    count = len(labels)
    write_npz(
        tmp_path / "set.npz",
        {
            "x_adv": x_adv.numpy(),
            "index": np.arange(count),
            "label": labels.numpy(),
            "target": np.full(count, -1),
            "success": np.zeros(count, dtype=bool),
            "source_clean_correct": (clean_predictions == labels).numpy(),
            "l0": np.zeros(count), "l2": np.zeros(count), "linf": np.zeros(count),
            "queries": np.zeros(count, dtype=np.int64), "seconds": np.zeros(count),
            "attack_config": np.array(json.dumps({"attack": "fgsm", "epsilon": 0.1})),
            "source_model": np.array("victim"),
        },
    )  # fmt: skip
    metrics = evaluate_adversarial_set(
        adversarial_set=tmp_path / "set.npz", target_model=tiny_victim, data_dir=tiny_store,
        cell={"setting": "whitebox", "kind": "whitebox", "defense": "undefended", "attack": "x"},
        out=tmp_path / "cell.json", device=torch.device("cpu"),
    )  # fmt: skip
    correct = clean_predictions == labels
    flipped = (predict(model, x_adv[:10]) != labels[:10]) & correct[:10]
    assert int(flipped.sum()) > 0, "the blank images must fool the model for this test"
    assert metrics["rates"]["target_asr"]["count"] == 0
    assert metrics["rates"]["target_asr"]["total"] == int(correct.sum())
