"""Collaborative multi-task training (Wang et al., 2019): Classmap, auxiliary head, gradient lock.

The defended model grows an auxiliary logits layer Z′ from the oracle's last hidden layer
(Sec. III-C1) and a gradient lock unit g between the two heads (Sec. III-C3):
Z* = Z ⊙ g(Z′). Benign inputs of class i should answer (argmax Z*, argmax Z′) =
(i, Classmap[i]); any other pair flags the input as adversarial. The Classmap pairs each
class with a "robust" label from the oracle's predictions on FGSM examples (Eq. 6-8), and
the model is trained with J_obj (Eq. 9) and J′ (Eq. 10) on benign and FGSM inputs.

Where the paper is ambiguous or contradicts itself, this module chooses as follows.

1. The paired label (Eq. 8). The formula picks the class the oracle most often assigns to
   FGSM examples of y_true (argmax of the likelihood), which is also what Fig. 7 describes
   (the regularisation moves the boundary between y_true and its *nearest* class); Sec. V-B
   instead calls y_robust the class an attacker is *unlikely* to reach. We follow the formula
   (`pairing="most_likely"`); `pairing="least_likely"` takes the argmin instead. y_true itself
   is excluded (a pair (i, i) could never flag a misclassification), counts are over the
   hard predictions (Eq. 8 is a likelihood of F(x_a) = y_robust), ties are broken by the
   confidence vector p_i of Eq. 6, then by the lower class index; a class without any
   misclassified example falls back to p_i alone.
2. p_i (Eq. 6) is the mean softmax of the oracle over the FGSM examples of class i, kept in
   the Classmap for Fig. 6 and the table artifact; the sum in Eq. 6 runs over the N_i
   examples (its printed bounds 0..N_i would count N_i + 1).
3. The negative term of Eq. 10. "J(x_adv, y_robust) is a negative cross-entropy cost": read
   literally, J′ = ½[CE(Z′(x), y_r) − CE(Z′(x_adv), y_r)], which is unbounded below (the
   model can drive CE(Z′(x_adv), y_r) to infinity), so the sum of Eq. 9 has no minimum.
   We cap the per-sample cross-entropy of the negative term at `negative_cap` nats (default
   log(K)·2 ≈ 4.6 for K = 10, i.e. p_{y_r} ≈ 1%): beyond it the term stops pushing, which
   is exactly its stated purpose (Z′ leaves y_robust on adversarial inputs).
4. The gradient lock. The paper says g "contains two fully connected layers" and is trained
   "in the same training process", and also that the added layers "contain no parameter to
   be trained". Two fully connected layers have parameters; we train them jointly with the
   rest (there is no other way for g to "align with the non-linear relationship between Z and
   Z′"), with a ReLU between them and `lock_hidden` units (the paper gives no width). The
   last layer starts at weight 0 and bias 1, so that g ≡ 1 and Z* = Z when training starts
   from the oracle's weights. The paper's claim for g is the near-white-box one (Table V):
   the gradient of Z* flows through both Z and Z′ (Eq. 13), which is tested.
5. Which output the J terms use: J(x, y_true) and J(x_adv, y_true) train the classification
   output, Z* (Z when the model has no gradient lock, the Sec. III-C1 framework); J′ trains Z′.
   The training FGSM examples are crafted on that classification output at each step with
   the model in eval mode (no dropout), then the step runs in train mode. The paper gives no
   ε for them; the config's `training_epsilon` (default 0.1, its black-box FGSM budget).
6. Initialisation: the defended model starts from the oracle's trained weights
   (`initialize="oracle"`, the paper "grows" the heads from the trained model), or from
   scratch (`"scratch"`); Z′ is always freshly initialised.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, TextIO

import numpy as np
import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from decoybench.models.architectures import Classifier
from decoybench.models.loop import Epoch, run_epochs

__all__ = [
    "PAIRINGS",
    "Classmap",
    "GradientLock",
    "MultitaskModel",
    "MultitaskOutputs",
    "MultitaskRecipe",
    "auxiliary_objective",
    "build_classmap",
    "confidence_vectors",
    "fgsm_examples",
    "multitask_objective",
    "train_multitask",
]

PAIRINGS = ("most_likely", "least_likely")


def confidence_vectors(probabilities: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Eq. 6 for every class: p_i = (1/N_i) Σ_{x_adv of class i} F(x_adv).

    `probabilities` (N, K) are the oracle's softmax outputs on the adversarial examples,
    `labels` (N,) their true classes. Returns a (K, K) array whose row i is p_i (nan where a
    class has no example).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if probabilities.shape != (len(labels), num_classes):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}; expected ({len(labels)}, "
            f"{num_classes})"
        )
    rows = np.full((num_classes, num_classes), np.nan)
    for label in range(num_classes):
        selected = labels == label
        if selected.any():
            rows[label] = probabilities[selected].mean(axis=0)
    return rows


@dataclass(frozen=True)
class Classmap:
    """The Classmap table (Sec. III-B): `pairs[i]` is the label paired with class i.

    `counts[i, j]` is how many adversarial examples of class i the oracle labelled j and
    `confidence[i]` is p_i of Eq. 6, both over the examples the pairs were built from.
    """

    pairs: tuple[int, ...]
    counts: np.ndarray = field(compare=False)
    confidence: np.ndarray = field(compare=False)
    pairing: str = "most_likely"

    @property
    def num_classes(self) -> int:
        return len(self.pairs)

    def as_tensor(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.tensor(self.pairs, dtype=torch.long, device=device)

    def is_pair(self, main_labels: Any, auxiliary_labels: Any) -> np.ndarray:
        """True where (main, auxiliary) is a Classmap pair, i.e. pairs[main] == auxiliary."""
        main = np.asarray(main_labels).reshape(-1)
        auxiliary = np.asarray(auxiliary_labels).reshape(-1)
        return np.asarray(self.pairs)[main] == auxiliary

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": list(self.pairs),
            "pairing": self.pairing,
            "counts": self.counts.astype(int).tolist(),
            "confidence": [
                [None if math.isnan(value) else float(value) for value in row]
                for row in self.confidence
            ],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Classmap:
        pairs = tuple(int(value) for value in document["pairs"])
        if any(not 0 <= value < len(pairs) for value in pairs):
            raise ValueError(f"classmap pairs {pairs} name classes outside 0..{len(pairs) - 1}")
        rows = document["confidence"]
        confidence = np.array(
            [[math.nan if value is None else value for value in row] for row in rows],
            dtype=np.float64,
        )
        return cls(
            pairs=pairs,
            counts=np.asarray(document["counts"], dtype=np.int64),
            confidence=confidence,
            pairing=document.get("pairing", "most_likely"),
        )


def build_classmap(
    adversarial_probabilities: Any,
    labels: Any,
    num_classes: int,
    pairing: str = "most_likely",
) -> Classmap:
    """The Classmap of Eq. 8 from the oracle's softmax on adversarial examples (module item 1).

    For each class i: the most (or least) frequent predicted class j ≠ i among the
    adversarial examples of class i, ties broken by p_i[j] (Eq. 6; higher for most_likely,
    lower for least_likely) and then by the lower index. Every class needs at least one
    example.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing {pairing!r} is not allowed; allowed: {', '.join(PAIRINGS)}")
    probabilities = np.asarray(adversarial_probabilities, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    confidence = confidence_vectors(probabilities, labels, num_classes)
    missing = [label for label in range(num_classes) if np.isnan(confidence[label]).any()]
    if missing:
        raise ValueError(f"no adversarial example of class(es) {missing}: cannot pair them")
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    sign = 1.0 if pairing == "most_likely" else -1.0
    pairs = []
    for label in range(num_classes):
        candidates = [other for other in range(num_classes) if other != label]
        # Lexicographic key: count, then p_i (Eq. 6), then the lower index (min over -index).
        best = max(
            candidates,
            key=lambda other: (
                sign * counts[label, other],
                sign * confidence[label, other],
                -other,
            ),
        )
        pairs.append(int(best))
    return Classmap(tuple(pairs), counts, confidence, pairing)


class GradientLock(nn.Module):
    """g of Sec. III-C3: FC(K→H), ReLU, FC(H→K) on Z′; Z* = Z ⊙ g(Z′) (module item 4)."""

    def __init__(self, num_classes: int, hidden: int) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"lock_hidden must be a positive integer, got {hidden!r}")
        self.layers = nn.Sequential(
            nn.Linear(num_classes, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )
        nn.init.zeros_(self.layers[2].weight)
        nn.init.ones_(self.layers[2].bias)

    def forward(self, logits: Tensor, auxiliary_logits: Tensor) -> Tensor:
        return logits * self.layers(auxiliary_logits)


class MultitaskOutputs(NamedTuple):
    """The three logits of one forward pass: Z, Z′ and Z* (= Z without a gradient lock)."""

    logits: Tensor
    auxiliary: Tensor
    combined: Tensor


class MultitaskModel(nn.Module):
    """The defended oracle: `base` (trunk + head Z), the auxiliary head Z′ on the last hidden
    layer, an optional gradient lock g, and the Classmap as a buffer.

    `forward(x)` returns Z* (the classification output); `heads(x)` all three logits;
    `is_adversarial_of(outputs)` flags every (argmax Z*, argmax Z′) that is not a pair.
    """

    def __init__(self, base: Classifier, classmap: Classmap, lock_hidden: int | None) -> None:
        super().__init__()
        if classmap.num_classes != base.num_classes:
            raise ValueError(
                f"classmap has {classmap.num_classes} classes, the model {base.num_classes}"
            )
        self.base = base
        self.auxiliary = nn.Linear(base.feature_dim, base.num_classes)
        self.lock = None if lock_hidden is None else GradientLock(base.num_classes, lock_hidden)
        self.register_buffer("classmap", classmap.as_tensor())
        self.num_classes = base.num_classes

    def heads(self, x: Tensor) -> MultitaskOutputs:
        hidden = self.base.features(x)
        logits = self.base.head(hidden)
        auxiliary = self.auxiliary(hidden)
        combined = logits if self.lock is None else self.lock(logits, auxiliary)
        return MultitaskOutputs(logits, auxiliary, combined)

    def forward(self, x: Tensor) -> Tensor:
        return self.heads(x).combined

    def is_adversarial_of(self, outputs: MultitaskOutputs) -> Tensor:
        """Detection (Sec. III-C1): Classmap[argmax Z*] ≠ argmax Z′."""
        return self.classmap[outputs.combined.argmax(dim=1)] != outputs.auxiliary.argmax(dim=1)

    @torch.no_grad()
    def predict_with_detection(
        self, x: Tensor, batch_size: int = 500
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(argmax Z*, argmax Z′, detected) for a batch of inputs, on the CPU."""
        device = self.classmap.device
        main, auxiliary, detected = [], [], []
        for start in range(0, len(x), batch_size):
            outputs = self.heads(x[start : start + batch_size].to(device))
            main.append(outputs.combined.argmax(dim=1).cpu())
            auxiliary.append(outputs.auxiliary.argmax(dim=1).cpu())
            detected.append(self.is_adversarial_of(outputs).cpu())
        if not main:
            empty = torch.empty(0, dtype=torch.long)
            return empty, empty, torch.empty(0, dtype=torch.bool)
        return torch.cat(main), torch.cat(auxiliary), torch.cat(detected)


def auxiliary_objective(
    auxiliary_clean: Tensor,
    auxiliary_adversarial: Tensor,
    robust_labels: Tensor,
    negative_cap: float,
) -> Tensor:
    """J′ of Eq. 10: ½ {J(x, y_robust) + J(x_adv, y_robust)}, the second a negative
    cross-entropy, capped per sample at `negative_cap` nats (module item 3):
    ½ [mean CE(Z′(x), y_r) − mean min(CE(Z′(x_adv), y_r), cap)]."""
    positive = functional.cross_entropy(auxiliary_clean, robust_labels)
    negative = functional.cross_entropy(auxiliary_adversarial, robust_labels, reduction="none")
    return 0.5 * (positive - negative.clamp(max=negative_cap).mean())


def multitask_objective(
    clean: MultitaskOutputs,
    adversarial: MultitaskOutputs,
    labels: Tensor,
    robust_labels: Tensor,
    *,
    alpha: float = 0.4,
    beta: float = 0.4,
    gamma: float = 0.2,
    negative_cap: float = 2 * math.log(10),
) -> tuple[Tensor, dict[str, float]]:
    """J_obj of Eq. 9 = α J(x, y_true) + β J(x_adv, y_true) + γ J′(x, x_adv, y_robust),
    J the cross-entropy of the classification output Z* (module item 5).

    Returns (J_obj, its three terms as floats).
    """
    benign = functional.cross_entropy(clean.combined, labels)
    adversarial_term = functional.cross_entropy(adversarial.combined, labels)
    auxiliary = auxiliary_objective(
        clean.auxiliary, adversarial.auxiliary, robust_labels, negative_cap
    )
    total = alpha * benign + beta * adversarial_term + gamma * auxiliary
    parts = {
        "benign": float(benign.detach()),
        "adversarial": float(adversarial_term.detach()),
        "auxiliary": float(auxiliary.detach()),
    }
    return total, parts


def fgsm_examples(model: nn.Module, x: Tensor, labels: Tensor, epsilon: float) -> Tensor:
    """FGSM (Eq. 7) on `model`'s logits: clip(x + ε sgn ∇x CE(model(x), y), 0, 1).

    Used inside the training step, where the paper uses its own FGSM too: a Foolbox call per
    batch would re-wrap the model at every step for the same single gradient.
    """
    x = x.detach().clone().requires_grad_(True)
    loss = functional.cross_entropy(model(x), labels)
    (gradient,) = torch.autograd.grad(loss, x)
    return (x + epsilon * gradient.sign()).clamp(0.0, 1.0).detach()


@dataclass(frozen=True)
class MultitaskRecipe:
    """Training of the defended model (one `defenses.multitask` config entry's recipe keys)."""

    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    alpha: float = 0.4
    beta: float = 0.4
    gamma: float = 0.2
    training_epsilon: float = 0.1
    negative_cap: float = 2 * math.log(10)

    def __post_init__(self) -> None:
        if not math.isclose(self.alpha + self.beta + self.gamma, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"alpha + beta + gamma must add up to 1 (Eq. 9), got "
                f"{self.alpha} + {self.beta} + {self.gamma}"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def _validation_record(model: MultitaskModel, images: Tensor, labels: Tensor) -> dict[str, float]:
    main, _, detected = model.predict_with_detection(images)
    return {
        "val_accuracy": float((main == labels).float().mean()),
        "val_misdetection": float(detected.float().mean()),
    }


def train_multitask(
    model: MultitaskModel,
    train_images: Tensor,
    train_labels: Tensor,
    recipe: MultitaskRecipe,
    *,
    generator: torch.Generator,
    validation: tuple[Tensor, Tensor] | None = None,
    progress: TextIO | None = None,
) -> list[dict[str, float]]:
    """Minimise J_obj (Eq. 9) with Adam over seeded batches; each step crafts the batch's FGSM
    examples on the current model (module item 5). Trains `model` in place on its device and
    returns the per-epoch history (losses, train accuracy, validation accuracy and benign
    mis-detection rate when `validation` = (images, labels) is given)."""
    device = model.classmap.device
    robust_of = model.classmap
    optimizer = torch.optim.Adam(
        model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )

    def step(batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, float]]:
        x, y = batch[0].to(device), batch[1].to(device)
        model.eval()
        x_adv = fgsm_examples(model, x, y, recipe.training_epsilon)
        model.train()
        clean, adversarial = model.heads(x), model.heads(x_adv)
        loss, parts = multitask_objective(
            clean,
            adversarial,
            y,
            robust_of[y],
            alpha=recipe.alpha,
            beta=recipe.beta,
            gamma=recipe.gamma,
            negative_cap=recipe.negative_cap,
        )
        totals = {name: value * len(y) for name, value in parts.items()}
        totals["correct"] = int((clean.combined.argmax(dim=1) == y).sum())
        return loss, totals

    def summarize(epoch: Epoch) -> dict[str, float]:
        record: dict[str, float] = {
            "epoch": epoch.number,
            **{
                f"train_{name}": epoch.mean(name)
                for name in ("loss", "benign", "adversarial", "auxiliary")
            },
            "train_accuracy": epoch.mean("correct"),
        }
        model.eval()
        if validation is not None:
            record.update(_validation_record(model, *validation))
        return record

    return run_epochs(
        step,
        (train_images, train_labels),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        generator=generator,
        optimizer=optimizer,
        model=model,
        summarize=summarize,
        progress=progress,
    )
