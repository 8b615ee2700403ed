"""Build a defense around a trained victim and record what its evaluation needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from decoybench.data import load_split, read_manifest
from decoybench.io import write_json
from decoybench.metrics import accuracy, false_positive_rate
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import predict
from decoybench.papers.attractors.defense import AttractorDefense
from decoybench.runtime import to_float


@torch.no_grad()
def build_attractor_defense(
    *,
    victim_path: str | Path,
    data_dir: str | Path,
    settings: dict[str, Any],
    out: str | Path,
    device: torch.device,
) -> dict[str, Any]:
    """Attractors around the victim: W from `settings` (seeded), F_d calibrated on the clean
    validation split at each `settings["fprs"]` target FPR.

    Writes `out` (JSON, atomically): the defense itself (`AttractorDefense.to_json`) and the
    clean-data measurements on the test split, i.e. the paper's Table II (accuracy of C and
    of M) and, per operating point, the realized FPR on validation and test and the clean
    accuracy of the integrated model M_(d,r). Returns the measurements.
    """
    manifest = read_manifest(data_dir)
    victim, _ = load_checkpoint(
        victim_path, device=str(device), expected={"data_sha256": manifest["fingerprint"]}
    )
    options = {key: value for key, value in settings.items() if key != "fprs"}
    defense = AttractorDefense(victim, options)
    validation, test = load_split(data_dir, "val"), load_split(data_dir, "test")
    x_val, x_test = to_float(validation.images, device), to_float(test.images, device)
    fprs = tuple(settings.get("fprs", (0.05, 0.005)))
    points = defense.calibrate(x_val, fprs)
    labels = torch.as_tensor(test.labels)
    attracted = defense.model_seen_by_attacker().eval()
    measurements: dict[str, Any] = {
        "clean_accuracy_victim": accuracy(predict(victim, x_test), labels).as_dict(),
        "clean_accuracy_defended": accuracy(predict(attracted, x_test), labels).as_dict(),
        "operating_points": [],
    }
    correlations = defense.decoder(x_test)  # W(x_test), shared by every operating point
    for fpr, point in zip(fprs, points, strict=True):
        detected = defense.detector_at(fpr).is_adversarial_of(correlations).cpu()
        integrated_labels, _ = defense.integrated(fpr).predict_with_detection(x_test)
        measurements["operating_points"].append(
            {
                "fpr_target": fpr,
                "fpr_validation": point.fpr_realized,
                "fpr_test": false_positive_rate(detected).as_dict(),
                # M_(d,r) answers F_r's label on every (false) detection: its clean cost.
                "clean_accuracy_integrated": accuracy(integrated_labels.cpu(), labels).as_dict(),
            }
        )
    write_json(out, {"defense": json.loads(defense.to_json()), "clean": measurements})
    return measurements
