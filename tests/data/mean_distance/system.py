"""Build and deploy the mean-distance detector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from decoybench.data import load_split
from decoybench.defenses.system import BuildJob, DeployedSystem, DeployRequest
from decoybench.io import read_json, write_json
from decoybench.runtime import to_float


@dataclass(frozen=True)
class MeanDistanceDetector:
    mean: Tensor
    threshold: float
    fpr_target: float

    def score(self, x: Tensor) -> Tensor:
        return (x.flatten(1) - self.mean.to(x.device)).norm(dim=1)

    def is_adversarial(self, x: Tensor) -> Tensor:
        return self.score(x) > self.threshold


def build(job: BuildJob) -> dict[str, Any]:
    """The mean of the training images; thresholds at the (1 - FPR) quantiles of the clean
    validation scores."""
    mean = to_float(load_split(job.data_dir, "train").images).flatten(1).mean(dim=0)
    probe = MeanDistanceDetector(mean, float("inf"), 1.0)
    scores = probe.score(to_float(load_split(job.data_dir, "val").images)).numpy()
    fprs = [float(fpr) for fpr in job.settings.get("fprs", [0.05])]
    thresholds = [[fpr, float(np.quantile(scores, 1 - fpr))] for fpr in fprs]  # config order
    write_json(job.outputs["defense"], {"mean": mean.tolist(), "thresholds": thresholds})
    return {"val_score_mean": float(scores.mean())}


def deploy(request: DeployRequest) -> DeployedSystem:
    """The victim, unchanged, with the detector beside it."""
    document = read_json(request.defense_path)
    mean = torch.tensor(document["mean"])
    detectors = {
        float(fpr): MeanDistanceDetector(mean, threshold, float(fpr))
        for fpr, threshold in document["thresholds"]
    }
    return DeployedSystem(
        model=request.victim.eval(),
        sidecar={**request.victim_sidecar, "name": f"{request.name}[{request.kind}]"},
        detectors=detectors,
    )
