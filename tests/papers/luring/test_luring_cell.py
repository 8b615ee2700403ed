"""Luring cells: the metrics of one set crafted on T = M∘P (hand-built predictions), and the
deployment that crafts on T and scores on M."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from decoybench.cells.craft import generate_adversarial_set
from decoybench.cells.deployment import load_system
from decoybench.cells.score import evaluate_adversarial_set
from decoybench.data import read_manifest
from decoybench.papers.luring.build import build_luring_defense
from decoybench.papers.luring.cell import luring_cell_metrics, luring_rates

pytestmark = pytest.mark.usefixtures("single_thread")


class PixelLookup(nn.Module):
    """Predicts the class written in one pixel: round(9 · x[:, 0, 0, column])."""

    def __init__(self, column: int) -> None:
        super().__init__()
        self.column = column
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        classes = torch.round(x[:, 0, 0, self.column] * 9).long()
        return nn.functional.one_hot(classes, 10).float()


def _images(target_classes: list[int], public_classes: list[int]) -> Tensor:
    images = torch.full((len(target_classes), 1, 4, 4), 0.5)
    images[:, 0, 0, 0] = torch.tensor(target_classes, dtype=torch.float32) / 9
    images[:, 0, 0, 1] = torch.tensor(public_classes, dtype=torch.float32) / 9
    return images


def test_luring_metrics_on_hand_built_predictions() -> None:
    labels = torch.tensor([1, 2, 3, 4, 5, 6])
    # Clean: sample 5 is wrong on M, so X' = samples 0-4.
    x_clean = _images([1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 6])
    # Adversarial (M, M∘P): 0 fools both alike (undetected), 1 fools T only (inefficient),
    # 2 fools both differently (detected, M fooled), 3 fools neither, 4 is blank (clean used).
    x_adv = _images([7, 2, 8, 4, 0, 0], [7, 9, 9, 4, 0, 0])
    x_adv[4] = 0.0
    metrics = luring_cell_metrics(
        public=PixelLookup(1), target=PixelLookup(0), x_adv=x_adv, x_clean=x_clean,
        labels=labels, index=np.arange(6),
        distortions={name: np.arange(6, dtype=float) for name in ("l0", "l2", "linf")},
    )  # fmt: skip
    assert metrics["n_selected"] == 5 and metrics["n_blank"] == 1
    rates = metrics["rates"]
    # X' = {0, 1, 2, 3, 4}; M∘P right on {3, 4} → AC_MoP 2/5; M right on {1, 3, 4} → 3/5.
    assert (rates["ac_mop"]["count"], rates["ac_mop"]["total"]) == (2, 5)
    assert (rates["ac_m"]["count"], rates["ac_m"]["total"]) == (3, 5)
    # DAC: only sample 0 is undetected and wrong on M → 4/5.
    assert (rates["dac"]["count"], rates["dac"]["total"]) == (4, 5)
    # Fooling T: {0, 1, 2}; disagreeing among them: {1, 2}; M right among them: {1}.
    assert (rates["dr"]["count"], rates["dr"]["total"]) == (2, 3)
    assert (rates["iar"]["count"], rates["iar"]["total"]) == (1, 3)
    # Distortion over the x' of X' that fool T: samples 0, 1, 2 → mean 1.
    assert metrics["distortion_on_public"]["mean_l2"] == pytest.approx(1.0)
    per_sample = metrics["per_sample"]
    assert per_sample["selected"] == [True] * 5 + [False]
    assert per_sample["augmented_adversarial"][4] == 5  # the clean image stood in
    assert luring_rates([1, 2], [1, 0], [1, 2])["dr"]["count"] == 1


@pytest.fixture(scope="module")
def luring_defense(tiny_store, tiny_victim, tmp_path_factory):
    out = tmp_path_factory.mktemp("luring") / "defense.json"
    build_luring_defense(
        target_path=tiny_victim, data_dir=tiny_store, approach="cross_entropy",
        settings={"component": "mnist", "epochs": 1, "batch_size": 64, "learning_rates": [1e-3],
                  "lr_milestones": []},
        out=out, device=torch.device("cpu"), seed=0, progress=io.StringIO(),
    )  # fmt: skip
    return out


def test_a_luring_cell_is_crafted_on_t_and_scored_on_m(
    tiny_store, tiny_victim, luring_defense, tmp_path
) -> None:
    fingerprint = read_manifest(tiny_store)["fingerprint"]
    system = load_system(
        model_path=tiny_victim, defense="luring_ce", kind="transfer", device="cpu",
        data_sha256=fingerprint, defense_path=luring_defense,
    )  # fmt: skip
    assert system.public is not None and system.public_sidecar["approach"] == "cross_entropy"
    with pytest.raises(ValueError, match="allowed kinds: transfer"):
        load_system(
            model_path=tiny_victim, defense="luring_ce", kind="whitebox", device="cpu",
            data_sha256=fingerprint, defense_path=luring_defense,
        )  # fmt: skip
    adversarial_set = tmp_path / "set.npz"
    summary = generate_adversarial_set(
        model_path=tiny_victim, data_dir=tiny_store,
        attack_config={"attack": "fgsm", "epsilon": 0.3}, out=adversarial_set, seed=0,
        seed_names=("t",), device=torch.device("cpu"), n_samples=20, sanity_samples=0,
        defense="luring_ce", kind="transfer", defense_path=luring_defense,
    )  # fmt: skip
    metrics = evaluate_adversarial_set(
        adversarial_set=adversarial_set, target_model=tiny_victim, data_dir=tiny_store,
        cell={"setting": "transfer_public", "kind": "transfer", "defense": "luring_ce",
              "attack": "fgsm_0.3"},
        out=tmp_path / "cell.json", device=torch.device("cpu"), defense_path=luring_defense,
    )  # fmt: skip
    assert metrics["source_model"].endswith("+luring_ce[cross_entropy]")
    assert metrics["luring"]["approach"] == "cross_entropy"
    # The set's success is measured on T; the luring section re-measures it on the same T.
    per_sample = metrics["luring"]["per_sample"]
    fooled_t = np.array(per_sample["augmented_adversarial"]) != np.array(per_sample["label"])
    clean_t = np.array(per_sample["augmented_clean"]) == np.array(per_sample["label"])
    assert summary["source_asr_count"] == int((fooled_t & clean_t).sum())
    assert metrics["luring"]["rates"]["ac_m"]["total"] == metrics["luring"]["n_selected"]
