"""The multi-task defense (Wang et al., 2019): Classmap, J_obj / J′, gradient lock, detection,
checkpoint, and the build on real (tiny) data."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as functional
from torch import nn

from decoybench.models.architectures import Classifier
from decoybench.models.checkpoint import CheckpointError
from decoybench.papers.multitask.defense.classmap import (
    Classmap,
    build_classmap,
    confidence_vectors,
)
from decoybench.papers.multitask.defense.model import (
    GradientLock,
    MultitaskModel,
    MultitaskOutputs,
)
from decoybench.papers.multitask.defense.training import (
    MultitaskRecipe,
    auxiliary_objective,
    multitask_objective,
)

pytestmark = pytest.mark.usefixtures("single_thread")
CLASSES = 3


def _one_hot_probabilities(predicted: list[int], classes: int = CLASSES) -> np.ndarray:
    return np.eye(classes)[predicted]


def test_confidence_vectors_are_class_means_of_the_softmax() -> None:
    probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 0, 2])
    rows = confidence_vectors(probabilities, labels, CLASSES)
    np.testing.assert_allclose(rows[0], [0.4, 0.5, 0.1])
    assert np.isnan(rows[1]).all()  # no example of class 1
    np.testing.assert_allclose(rows[2], [0.1, 0.1, 0.8])


def test_classmap_pairs_each_class_with_its_most_frequent_misclassification() -> None:
    # Hand-built confusion of adversarial predictions (rows: true class):
    #   class 0 -> 0, 2, 2, 1      most likely other class: 2
    #   class 1 -> 1, 1, 0         (the true class is never its own pair): 0
    #   class 2 -> 1, 0            tie 1 vs 0 on counts, broken by p_2 (Eq. 6)
    labels = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    predicted = [0, 2, 2, 1, 1, 1, 0, 1, 0]
    probabilities = _one_hot_probabilities(predicted) * 0.9 + 0.1 / CLASSES
    probabilities[7] = [0.05, 0.9, 0.05]  # class 2's example labelled 1 is confident,
    probabilities[8] = [0.5, 0.3, 0.2]  # the one labelled 0 hesitant: p_2 = [.275, .6, .125]
    classmap = build_classmap(probabilities, labels, CLASSES)
    assert classmap.pairs == (2, 0, 1)
    np.testing.assert_array_equal(classmap.counts, [[1, 1, 2], [1, 2, 0], [1, 1, 0]])
    least = build_classmap(probabilities, labels, CLASSES, pairing="least_likely")
    assert least.pairs == (1, 2, 0)  # the rarest other class (class 1: 2 never seen)


def test_classmap_without_misclassification_falls_back_to_the_confidence_vector() -> None:
    labels = [0, 1, 2]
    probabilities = np.array([[0.7, 0.1, 0.2], [0.3, 0.6, 0.1], [0.25, 0.3, 0.45]])
    assert build_classmap(probabilities, labels, CLASSES).pairs == (2, 0, 1)


def test_classmap_rejects_a_class_without_examples_and_bad_pairing() -> None:
    with pytest.raises(ValueError, match=r"class\(es\) \[2\]"):
        build_classmap(_one_hot_probabilities([1, 0]), [0, 1], CLASSES)
    with pytest.raises(ValueError, match="pairing 'robust'"):
        build_classmap(_one_hot_probabilities([1, 0, 0]), [0, 1, 2], CLASSES, "robust")


def test_classmap_round_trips_and_flags_exactly_the_non_pairs() -> None:
    classmap = build_classmap(_one_hot_probabilities([1, 2, 0, 0]), [0, 1, 2, 2], CLASSES)
    again = Classmap.from_dict(classmap.to_dict())
    assert again == classmap and again.pairing == "most_likely"
    main = np.array([0, 0, 1, 1, 2, 2])
    auxiliary = np.array([1, 2, 2, 0, 0, 1])
    np.testing.assert_array_equal(
        classmap.is_pair(main, auxiliary), [True, False, True, False, True, False]
    )
    with pytest.raises(ValueError, match="outside"):
        Classmap.from_dict({**classmap.to_dict(), "pairs": [1, 2, 3]})


def test_auxiliary_objective_matches_hand_computed_values() -> None:
    # Z′(x) = [2, 0, 0] with y_r = 0: CE = log(1 + 2e^-2) ≈ 0.2395.
    # Z′(x_adv) = [0, 0, 0]: CE = log 3 ≈ 1.0986, below the cap 2 -> counts in full.
    clean, adversarial = torch.tensor([[2.0, 0.0, 0.0]]), torch.zeros(1, 3)
    robust = torch.tensor([0])
    value = auxiliary_objective(clean, adversarial, robust, negative_cap=2.0)
    expected = 0.5 * (math.log(1 + 2 * math.exp(-2)) - math.log(3))
    assert value.item() == pytest.approx(expected, abs=1e-6)
    # Z′(x_adv) = [-10, 0, 0]: CE ≈ 10.69 > cap 2: the negative term stops at 2.
    far = torch.tensor([[-10.0, 0.0, 0.0]])
    capped = auxiliary_objective(clean, far, robust, negative_cap=2.0)
    assert capped.item() == pytest.approx(0.5 * (math.log(1 + 2 * math.exp(-2)) - 2.0), abs=1e-6)
    far.requires_grad_(True)
    auxiliary_objective(clean, far, robust, negative_cap=2.0).backward()
    assert torch.count_nonzero(far.grad) == 0  # beyond the cap the term no longer pushes


def test_multitask_objective_is_the_weighted_sum_of_eq_9() -> None:
    def outputs(combined: list[float], auxiliary: list[float]) -> MultitaskOutputs:
        tensor = torch.tensor([combined])
        return MultitaskOutputs(tensor, torch.tensor([auxiliary]), tensor)

    clean = outputs([3.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    adversarial = outputs([0.0, 1.0, 0.0], [0.0, 0.0, 0.0])
    labels, robust = torch.tensor([0]), torch.tensor([1])
    total, parts = multitask_objective(clean, adversarial, labels, robust, negative_cap=10.0)
    benign = math.log(1 + 2 * math.exp(-3))
    adversarial_term = math.log(math.exp(0) + math.exp(1) + math.exp(0)) - 0.0
    auxiliary = 0.5 * (math.log(2 + math.e) - 1.0 - math.log(3))
    assert parts["benign"] == pytest.approx(benign, abs=1e-6)
    assert parts["adversarial"] == pytest.approx(adversarial_term, abs=1e-6)
    assert parts["auxiliary"] == pytest.approx(auxiliary, abs=1e-6)
    assert total.item() == pytest.approx(
        0.4 * benign + 0.4 * adversarial_term + 0.2 * auxiliary, abs=1e-6
    )


def test_recipe_weights_must_add_up_to_one() -> None:
    with pytest.raises(ValueError, match="add up to 1"):
        MultitaskRecipe(alpha=0.5, beta=0.4, gamma=0.2)


class _Tiny(Classifier):
    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=4, num_classes=CLASSES)
        self.feature_dim = 5
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU())
        self.head = nn.Linear(5, CLASSES)


def _model(lock_hidden: int | None = 4) -> MultitaskModel:
    torch.manual_seed(0)
    classmap = Classmap((1, 2, 0), np.zeros((3, 3)), np.full((3, 3), 1 / 3))
    return MultitaskModel(_Tiny(), classmap, lock_hidden)


def test_gradient_lock_starts_as_identity_and_multiplies_element_wise() -> None:
    lock = GradientLock(CLASSES, hidden=4)
    logits, auxiliary = torch.randn(2, CLASSES), torch.randn(2, CLASSES)
    torch.testing.assert_close(lock(logits, auxiliary), logits)
    with torch.no_grad():
        lock.layers[2].bias.copy_(torch.tensor([1.0, 2.0, -1.0]))
    torch.testing.assert_close(lock(logits, auxiliary), logits * torch.tensor([1.0, 2.0, -1.0]))


def test_forward_shapes_and_the_gradient_path_through_both_heads() -> None:
    model = _model()
    with torch.no_grad():  # a lock that depends on Z′ (its start is the identity)
        model.lock.layers[2].weight.normal_()
    x = torch.rand(6, 1, 4, 4, requires_grad=True)
    outputs = model.heads(x)
    assert [tuple(tensor.shape) for tensor in outputs] == [(6, CLASSES)] * 3
    torch.testing.assert_close(model(x), outputs.combined)
    # Eq. 13: Z* depends on Z′, so its gradient reaches Z′'s head and the lock.
    outputs.combined.sum().backward()
    assert model.auxiliary.weight.grad is not None
    assert model.auxiliary.weight.grad.abs().sum() > 0
    assert model.lock.layers[0].weight.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0
    # Without a lock Z* = Z and no gradient of Z* reaches Z′.
    plain = _model(lock_hidden=None)
    plain.heads(torch.rand(2, 1, 4, 4)).combined.sum().backward()
    assert plain.auxiliary.weight.grad is None


def test_detection_flags_exactly_the_non_classmap_pairs() -> None:
    model = _model(lock_hidden=None)
    combined = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    auxiliary = torch.tensor([[0, 5.0, 0], [0, 0, 5.0], [0, 0, 5.0], [5.0, 0, 0]])
    detected = model.is_adversarial_of(MultitaskOutputs(combined, auxiliary, combined))
    assert detected.tolist() == [False, True, False, False]


def test_checkpoint_round_trip_and_refusals(tmp_path: Path, tiny_victim: Path) -> None:
    from decoybench.models.architectures import build_model
    from decoybench.papers.multitask.checkpoint import load_multitask, save_multitask

    classmap = Classmap((1, 2, 0), np.zeros((3, 3), dtype=int), np.full((3, 3), 1 / 3))
    base = build_model("multitask_substitute_mnist", in_channels=1, image_size=28, num_classes=3)
    model = MultitaskModel(base, classmap, lock_hidden=4)
    metadata = {
        "oracle_weights_sha256": "0" * 64,
        "oracle_name": "victim",
        "recipe": {},
        "seed": 0,
        "data_sha256": "abc",
    }
    path = tmp_path / "defense.json"
    with pytest.raises(ValueError, match="missing required key"):
        save_multitask(path, model, classmap, {"seed": 0})
    save_multitask(path, model, classmap, metadata)
    loaded, sidecar = load_multitask(path, expected={"data_sha256": "abc"})
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert sidecar["lock_hidden"] == 4 and sidecar["classmap"]["pairs"] == [1, 2, 0]
    with pytest.raises(CheckpointError, match="oracle"):
        load_multitask(path, tiny_victim)  # not the oracle it was grown from
    (tmp_path / "defense.safetensors").write_bytes(b"corrupted")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_multitask(path)


def test_build_on_tiny_data(tiny_store: Path, tiny_victim: Path, tmp_path: Path) -> None:
    from decoybench.papers.multitask.build import build_multitask_defense, write_classmap_table
    from decoybench.papers.multitask.checkpoint import load_multitask

    settings = {"epochs": 2, "batch_size": 32, "lock_hidden": 8}
    out = tmp_path / "multitask" / "defense.json"
    result = build_multitask_defense(
        oracle_path=tiny_victim,
        data_dir=tiny_store,
        settings=settings,
        out=out,
        device=torch.device("cpu"),
        seed=0,
        progress=io.StringIO(),
    )
    pairs = result["classmap"]["pairs"]
    assert len(pairs) == 10 and all(pair != label for label, pair in enumerate(pairs))
    assert [record["epoch"] for record in result["history"]] == [1, 2]
    table6 = result["table6"]
    assert table6["accuracy_oracle"]["total"] == table6["misdetection_rate"]["total"] == 30
    model, sidecar = load_multitask(out, tiny_victim)
    assert tuple(model.classmap.tolist()) == tuple(pairs)
    assert sidecar["table6"] == table6
    frame = write_classmap_table(result["classmap"], tmp_path / "c.csv", tmp_path / "c.md")
    assert list(frame["paired_label"]) == pairs and (tmp_path / "c.md").read_text()
    again = build_multitask_defense(
        oracle_path=tiny_victim,
        data_dir=tiny_store,
        settings=settings,
        out=tmp_path / "again" / "defense.json",
        device=torch.device("cpu"),
        seed=0,
        progress=io.StringIO(),
    )
    assert again["table6"] == table6  # same seed, same numbers on CPU
    with pytest.raises(ValueError, match="unknown multitask setting"):
        build_multitask_defense(
            oracle_path=tiny_victim,
            data_dir=tiny_store,
            settings={"epoch": 2},
            out=tmp_path / "bad" / "defense.json",
            device=torch.device("cpu"),
            seed=0,
        )


def test_training_step_moves_the_auxiliary_head_towards_the_pairs() -> None:
    from decoybench.papers.multitask.defense.training import train_multitask

    torch.manual_seed(0)
    images = torch.rand(96, 1, 4, 4)
    labels = (images.mean(dim=(1, 2, 3)) * 30).long() % CLASSES
    model = _model()
    recipe = MultitaskRecipe(epochs=15, batch_size=32, learning_rate=0.02, training_epsilon=0.02)
    history = train_multitask(
        model, images, labels, recipe, generator=torch.Generator().manual_seed(0)
    )
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    with torch.no_grad():
        auxiliary = model.heads(images).auxiliary.argmax(dim=1)
    paired = model.classmap[labels]
    assert (auxiliary == paired).float().mean() > 1 / CLASSES + 0.1
    assert functional.one_hot(labels, CLASSES).shape == (96, CLASSES)
