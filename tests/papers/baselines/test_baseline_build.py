"""Building, saving, loading and deploying the baseline detectors (build_baseline_defense,
load_baseline, load_system) around the tiny victim; forensic metrics on their detectors."""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor

from decoybench.attacks.registry import build_from_config
from decoybench.cells.deployment import load_system
from decoybench.cells.forensic import forensic_metrics
from decoybench.data import load_split, read_manifest
from decoybench.io import sha256_file
from decoybench.models.architectures import build_model
from decoybench.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_sidecar,
    save_checkpoint,
    weights_path,
)
from decoybench.models.training import predict
from decoybench.papers.baselines.build import build_baseline_defense
from decoybench.papers.baselines.checkpoint import (
    BaselineDefense,
    CalibratedDetector,
    freeze_lid,
    load_baseline,
    signature_layer,
    squeezers_of,
)
from decoybench.papers.baselines.detector import ScoreDetector
from decoybench.papers.baselines.lid import LIDDetector, gaussian_noise_like
from decoybench.papers.baselines.magnet import MagNet
from decoybench.papers.baselines.trapdoor import inject, make_triggers
from decoybench.runtime import derive_seed, seed_everything, to_float

pytestmark = pytest.mark.usefixtures("single_thread")

FPRS = (0.05, 0.005)
SEED = 0
LID_ATTACKS = {"fgsm": {"attack": "fgsm", "epsilon": 0.3}}
SIGNATURE_LAYER = 9  # the second MaxPool2d of multitask_substitute_mnist's trunk (1024 values)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "lid": (
        "lid",
        {"k": 5, "batch_size": 20, "training_attack": "fgsm", "training_samples": 60},
    ),
    "feature_squeezing": (
        "feature_squeezing",
        {"squeezers": [{"squeezer": "bit_depth", "bits": 1}, {"squeezer": "median", "size": 2}]},
    ),
    "magnet": (
        "magnet",
        {
            "detectors": [
                {"autoencoder": "mnist_i", "score": "reconstruction", "p": 2},
                {"autoencoder": "mnist_ii", "score": "reconstruction", "p": 1},
            ],
            "reformer": "mnist_i",
            "epochs": 1,
            "batch_size": 64,
            "learning_rate": 0.01,
        },
    ),
    "magnet_divergence": (
        "magnet",
        {
            "detectors": [
                {"autoencoder": "mnist_i", "score": "reconstruction", "p": 2},
                {"autoencoder": "mnist_ii", "score": "divergence", "temperature": 10},
            ],
            "reformer": "mnist_i",
            "epochs": 1,
            "batch_size": 64,
            "learning_rate": 0.01,
        },
    ),
    "trapdoor": (
        "trapdoor",
        {
            "mask_ratio": 1.0,
            "injection_ratio": 0.2,
            "epochs": 1,
            "learning_rate": 0.002,
            "signature_samples": 10,
            "signature_layer": None,
        },
    ),
    "trapdoor_layer": (
        "trapdoor",
        {
            "mask_ratio": 1.0,
            "injection_ratio": 0.2,
            "epochs": 1,
            "learning_rate": 0.002,
            "signature_samples": 10,
            "signature_layer": SIGNATURE_LAYER,
        },
    ),
}

Built = tuple[Path, dict[str, Any]]


@pytest.fixture(scope="module")
def build(
    tiny_store: Path, tiny_victim: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Built]:
    """`build(variant, copy="")`: (sidecar path, returned measurements) of VARIANTS[variant],
    built once per (variant, copy) for the module."""
    cache: dict[tuple[str, str], Built] = {}

    def get(variant: str, copy: str = "") -> Built:
        if (variant, copy) not in cache:
            baseline, settings = VARIANTS[variant]
            out = tmp_path_factory.mktemp(f"{variant}{copy}") / "defense.json"
            measurements = build_baseline_defense(
                baseline=baseline,
                victim_path=tiny_victim,
                data_dir=tiny_store,
                settings=settings,
                out=out,
                device=torch.device("cpu"),
                seed=SEED,
                attacks=LID_ATTACKS,
                progress=io.StringIO(),
            )
            cache[variant, copy] = (out, measurements)
        return cache[variant, copy]

    return get


@pytest.fixture(scope="module")
def data(tiny_store: Path) -> dict[str, tuple[Tensor, Tensor]]:
    """Float images and labels of each split of the tiny store."""
    result = {}
    for name in ("train", "val", "test"):
        split = load_split(tiny_store, name)
        result[name] = (to_float(split.images), torch.as_tensor(split.labels))
    return result


@pytest.fixture(scope="module")
def fingerprint(tiny_store: Path) -> str:
    return read_manifest(tiny_store)["fingerprint"]


def _loaded(path: Path, victim: Path) -> BaselineDefense:
    return load_baseline(path, victim, device="cpu")


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[key], sb[key]) for key in sa)


def _fgsm(model: torch.nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """FGSM (epsilon 0.3, LID's training attack) on `model`: inputs the detectors see."""
    attack = build_from_config(dict(LID_ATTACKS["fgsm"]))
    return attack(model, x, y, target=None, generator=torch.Generator().manual_seed(2)).x_adv


def _noisy(x: Tensor, epsilon: float = 0.3, seed: int = 1) -> Tensor:
    """x plus ±epsilon sign noise, clipped to [0, 1]: inputs the detectors should notice."""
    generator = torch.Generator().manual_seed(seed)
    sign = torch.randint(0, 2, x.shape, generator=generator).float() * 2 - 1
    return (x + epsilon * sign).clamp(0.0, 1.0)


# 1. Build, files, round trip of the calibration ------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_build_writes_both_files_and_loaded_detector_reproduces_calibration(
    variant: str, build, data, tiny_victim: Path, fingerprint: str
) -> None:
    path, measurements = build(variant)
    baseline, settings = VARIANTS[variant]
    tensors_file = path.with_suffix(".safetensors")
    assert path.exists() and tensors_file.exists()
    sidecar = json.loads(path.read_text())
    victim_sidecar = read_sidecar(tiny_victim)
    assert sidecar["baseline"] == baseline
    assert sidecar["format"] == "safetensors-baseline"
    assert sidecar["weights_sha256"] == sha256_file(tensors_file)
    assert sidecar["victim_weights_sha256"] == victim_sidecar["weights_sha256"]
    assert sidecar["victim_name"] == victim_sidecar["name"] == "victim"
    assert sidecar["data_sha256"] == fingerprint and sidecar["seed"] == SEED
    assert sidecar["settings"] == json.loads(json.dumps(settings))
    assert sidecar["measurements"] == json.loads(json.dumps(measurements))
    assert [point["fpr_target"] for point in sidecar["operating_points"]] == list(FPRS)
    assert measurements["clean_accuracy_victim"]["total"] == 30

    loaded = _loaded(path, tiny_victim)
    assert loaded.baseline == baseline and loaded.fprs == FPRS
    x_val, x_test = data["val"][0], data["test"][0]
    n_val = len(x_val)
    for stored, measured in zip(
        sidecar["operating_points"], measurements["operating_points"], strict=True
    ):
        fpr = stored["fpr_target"]
        flags = loaded.detector.is_adversarial(x_val, fpr)
        assert flags.dtype == torch.bool and flags.shape == (n_val,)
        assert int(flags.sum()) / n_val == stored["fpr_realized"] == measured["fpr_validation"]
        assert int(flags.sum()) <= math.floor(fpr * n_val)
        assert torch.equal(loaded.detector_at(fpr).is_adversarial(x_val), flags)
        test_flags = loaded.detector.is_adversarial(x_test, fpr)
        assert measured["fpr_test"]["count"] == int(test_flags.sum())
        assert measured["fpr_test"]["total"] == len(x_test)
    if baseline != "trapdoor":  # LID, FS and MagNet leave the victim as it is
        assert measurements["clean_accuracy_defended"] == measurements["clean_accuracy_victim"]


@pytest.mark.parametrize(
    ("variant", "expected_keys"),
    [
        (
            "lid",
            {"reference", "scaler.mean", "scaler.scale", "logistic.coef", "logistic.intercept"},
        ),
        ("feature_squeezing", set()),
    ],
)
def test_tensors_file_holds_the_documented_tensors(
    variant: str, expected_keys: set[str], build, data
) -> None:
    path, measurements = build(variant)
    state = load_file(str(path.with_suffix(".safetensors")))
    assert set(state) == expected_keys
    if variant == "lid":  # the neighbour batch: the 20 training images after the 60 attacked
        torch.testing.assert_close(state["reference"], data["train"][0][60:80], rtol=0, atol=0)
        assert state["logistic.coef"].shape == state["scaler.mean"].shape
        assert measurements["training_attack"] == "fgsm"
        assert measurements["training_attempted"] == 60
        assert 5 < measurements["training_adversarial"] <= 60


def test_magnet_and_trapdoor_tensors_are_namespaced(build) -> None:
    magnet = load_file(str(build("magnet")[0].with_suffix(".safetensors")))
    assert {key.split(".")[0] for key in magnet} == {"autoencoder", "score"}
    assert {key.split(".")[1] for key in magnet if key.startswith("autoencoder.")} == {
        "mnist_i",
        "mnist_ii",
    }
    assert magnet["score.location"].shape == magnet["score.scale"].shape == (2,)
    trapdoor = load_file(str(build("trapdoor")[0].with_suffix(".safetensors")))
    labels = [str(label) for label in range(10)]
    assert {key for key in trapdoor if not key.startswith("model.")} == {
        f"{kind}.{label}{suffix}"
        for label in labels
        for kind, suffix in (("trigger", ".mask"), ("trigger", ".pattern"), ("signature", ""))
    }


# 2. Determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["lid", "magnet", "trapdoor"])
def test_same_seed_builds_byte_identical_tensors(variant: str, build) -> None:
    first, first_measurements = build(variant)
    second, second_measurements = build(variant, "again")
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["weights_sha256"] == b["weights_sha256"]
    assert (
        first.with_suffix(".safetensors").read_bytes()
        == second.with_suffix(".safetensors").read_bytes()
    )
    assert a["operating_points"] == b["operating_points"]
    first_measurements = {k: v for k, v in first_measurements.items() if k != "seconds"}
    second_measurements = {k: v for k, v in second_measurements.items() if k != "seconds"}
    assert first_measurements == second_measurements


# 3. LID frozen in torch ---------------------------------------------------------------------


def test_freeze_lid_scores_equal_scikit_learn(data, tiny_victim: Path) -> None:
    victim, _ = load_checkpoint(tiny_victim)
    x_train = data["train"][0]
    x_clean = x_train[:40]
    generator = torch.Generator().manual_seed(3)
    x_noisy = gaussian_noise_like(x_clean, generator, 1.0)
    x_adv = gaussian_noise_like(x_clean, generator, 6.0)
    detector = LIDDetector(victim, k=5, batch_size=20)
    with pytest.raises(ValueError, match="fit the detector"):
        freeze_lid(detector)
    detector.fit(x_clean, x_noisy, x_adv, reference=x_train[40:60])
    scaler, classifier = detector.scaler, detector.classifier
    queries = torch.cat([data["val"][0], _noisy(data["val"][0])])
    before = detector.score(queries)
    tensors = freeze_lid(detector)
    assert detector.classifier is not classifier and detector.scaler is not scaler
    after = detector.score(queries)
    assert after.dtype == torch.float64 and after.shape == (60,)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-12)
    assert float(before.max() - before.min()) > 1e-3  # not a constant score
    np.testing.assert_array_equal(tensors["scaler.mean"].numpy(), scaler.mean_)
    np.testing.assert_array_equal(tensors["scaler.scale"].numpy(), scaler.scale_)
    np.testing.assert_array_equal(tensors["logistic.coef"].numpy(), classifier.coef_.reshape(-1))
    np.testing.assert_array_equal(tensors["logistic.intercept"].numpy(), classifier.intercept_)
    assert torch.equal(tensors["reference"], x_train[40:60])
    again = freeze_lid(detector)  # freezing a frozen detector changes nothing
    assert again.keys() == tensors.keys()
    assert all(torch.equal(again[key], tensors[key]) for key in tensors)
    torch.testing.assert_close(detector.score(queries), after, rtol=0, atol=0)


# 4. Refusals --------------------------------------------------------------------------------


def test_load_refuses_another_victim(build, tiny_victim: Path, tmp_path: Path) -> None:
    path, _ = build("feature_squeezing")
    model, sidecar = load_checkpoint(tiny_victim)
    with torch.no_grad():
        model.head.bias.add_(1.0)
    other = tmp_path / "other.safetensors"
    metadata = {k: v for k, v in sidecar.items() if k not in ("weights_sha256", "format")}
    other_sidecar = save_checkpoint(other, model, metadata)
    assert other_sidecar["weights_sha256"] != sidecar["weights_sha256"]
    with pytest.raises(CheckpointError) as error:
        load_baseline(path, other)
    message = str(error.value)
    assert str(weights_path(path)) in message and str(other) in message
    assert sidecar["weights_sha256"] in message and other_sidecar["weights_sha256"] in message


def test_load_refuses_tampered_tensors_and_wrong_data(
    build, tiny_victim: Path, tmp_path: Path
) -> None:
    path, _ = build("lid")
    copy = tmp_path / "defense.json"
    shutil.copy(path, copy)
    shutil.copy(path.with_suffix(".safetensors"), tmp_path / "defense.safetensors")
    assert load_baseline(copy, tiny_victim).baseline == "lid"  # the copy itself is fine
    with pytest.raises(CheckpointError, match="data_sha256 mismatch"):
        load_baseline(copy, tiny_victim, expected={"data_sha256": "wrong"})
    tensors = bytearray((tmp_path / "defense.safetensors").read_bytes())
    tensors[-1] ^= 0xFF
    (tmp_path / "defense.safetensors").write_bytes(bytes(tensors))
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        load_baseline(copy, tiny_victim)
    (tmp_path / "defense.safetensors").unlink()
    with pytest.raises(CheckpointError, match="build it first"):
        load_baseline(copy, tiny_victim)


def _build_args(tiny_store: Path, tiny_victim: Path, out: Path) -> dict[str, Any]:
    return {
        "victim_path": tiny_victim,
        "data_dir": tiny_store,
        "out": out,
        "device": torch.device("cpu"),
        "seed": SEED,
    }


def test_build_refuses_unknown_baseline_and_missing_training_attack(
    tiny_store: Path, tiny_victim: Path, tmp_path: Path
) -> None:
    out = tmp_path / "defense.json"
    args = _build_args(tiny_store, tiny_victim, out)
    with pytest.raises(ValueError, match=r"unknown baseline 'bogus'.*lid, feature_squeezing"):
        build_baseline_defense(baseline="bogus", settings={}, **args)
    lid = dict(VARIANTS["lid"][1], training_attack="pgd")
    with pytest.raises(ValueError, match=r"training_attack 'pgd' .*\(fgsm\)"):
        build_baseline_defense(baseline="lid", settings=lid, attacks=LID_ATTACKS, **args)
    with pytest.raises(ValueError, match=r"training_attack 'fgsm' .*\(none\)"):
        build_baseline_defense(baseline="lid", settings=VARIANTS["lid"][1], **args)
    too_many = dict(VARIANTS["lid"][1], training_samples=230)  # 230 + 20 > 240
    with pytest.raises(ValueError, match=r"\(230\) \+ batch_size \(20\) exceed the 240"):
        build_baseline_defense(baseline="lid", settings=too_many, attacks=LID_ATTACKS, **args)
    assert not out.exists() and not out.with_suffix(".safetensors").exists()


# 5. Deployment ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["lid", "feature_squeezing", "magnet"])
def test_forensic_deployment_keeps_the_victim(
    variant: str, build, tiny_victim: Path, fingerprint: str
) -> None:
    path, _ = build(variant)
    system = load_system(
        model_path=tiny_victim,
        defense=variant,
        kind="forensic",
        device="cpu",
        data_sha256=fingerprint,
        defense_path=path,
    )
    victim, victim_sidecar = load_checkpoint(tiny_victim)
    assert _state_equal(system.model, victim) and not system.model.training
    assert system.sidecar["weights_sha256"] == victim_sidecar["weights_sha256"]
    assert system.sidecar["name"] == f"victim+{variant}[forensic]"
    assert system.public is None and system.recover is None
    assert list(system.detectors) == list(FPRS)
    assert all(isinstance(d, CalibratedDetector) for d in system.detectors.values())
    assert [d.fpr_target for d in system.detectors.values()] == list(FPRS)


def test_trapdoor_deployments(build, tiny_victim: Path, fingerprint: str) -> None:
    path, _ = build("trapdoor")
    common = {
        "model_path": tiny_victim,
        "defense": "trapdoor",
        "device": "cpu",
        "data_sha256": fingerprint,
        "defense_path": path,
    }
    victim, _ = load_checkpoint(tiny_victim)
    trapdoored = _loaded(path, tiny_victim).model
    assert not _state_equal(trapdoored, victim)
    forensic = load_system(kind="forensic", **common)
    assert _state_equal(forensic.model, trapdoored) and forensic.public is None
    assert list(forensic.detectors) == list(FPRS)
    assert forensic.sidecar["name"] == "victim+trapdoor[forensic]"
    transfer = load_system(kind="transfer", **common)
    assert _state_equal(transfer.model, victim)
    assert transfer.public is not None and _state_equal(transfer.public, trapdoored)
    assert transfer.public_sidecar["approach"] == "trapdoor"
    assert transfer.public_sidecar["name"] == "victim+trapdoor"
    assert transfer.detectors == {}


def test_lid_has_no_transfer_setting(build, tiny_victim: Path, fingerprint: str) -> None:
    with pytest.raises(ValueError, match=r"'transfer' setting; allowed kinds: forensic, adaptive$"):
        load_system(
            model_path=tiny_victim,
            defense="lid",
            kind="transfer",
            device="cpu",
            data_sha256=fingerprint,
            defense_path=build("lid")[0],
        )


# 6. Forensic metrics: the score_threshold shortcut ------------------------------------------


class _SlowDetector:
    """A detector without `score_threshold`: forensic_metrics must call is_adversarial."""

    def __init__(self, detector: CalibratedDetector) -> None:
        self._detector = detector

    def score(self, x: Tensor) -> Tensor:
        return self._detector.score(x)

    def is_adversarial(self, x: Tensor) -> Tensor:
        return self._detector.is_adversarial(x)


def _without_arrays(result: dict[str, Any]) -> dict[str, Any]:
    """forensic_metrics' result without its array entries (compared with numpy)."""
    return {key: value for key, value in result.items() if not isinstance(value, np.ndarray)}


@pytest.mark.parametrize("variant", ["lid", "feature_squeezing", "magnet", "trapdoor"])
def test_forensic_metrics_shortcut_matches_is_adversarial(
    variant: str, build, data, tiny_victim: Path
) -> None:
    path, _ = build(variant)
    loaded = _loaded(path, tiny_victim)
    detectors = loaded.detectors()
    sidecar = json.loads(path.read_text())
    for point, detector in zip(sidecar["operating_points"], detectors.values(), strict=True):
        if isinstance(loaded.detector, MagNet):
            assert detector.score_threshold is None  # flags from several thresholds
        else:
            assert detector.score_threshold == point["threshold"]
    x_test, labels = data["test"]
    # FGSM examples, noisy and inverted (far off the clean manifold) test images.
    x_adv = torch.cat([_fgsm(loaded.model, x_test, labels), _noisy(x_test[:5]), 1 - x_test[:5]])
    successful = np.arange(len(x_adv)) % 3 != 0
    attempted = np.ones(len(x_adv), dtype=bool)
    common = {
        "recover": None,
        "x_adv": x_adv,
        "x_clean_test": x_test,
        "labels": torch.cat([labels, labels[:10]]).numpy(),
        "successful": successful,
        "attempted": attempted,
    }
    fast = forensic_metrics(detectors=detectors, **common)
    slow = forensic_metrics(
        detectors={fpr: _SlowDetector(d) for fpr, d in detectors.items()}, **common
    )
    assert _without_arrays(fast) == _without_arrays(slow)
    clean_scores = loaded.score(x_test).numpy()
    if "clean_scores" in fast:  # the scores are handed back for the next cell to reuse
        np.testing.assert_array_equal(fast["clean_scores"], clean_scores)
        np.testing.assert_array_equal(slow["clean_scores"], clean_scores)
    assert fast["clean_score_median"] == float(np.median(clean_scores))
    flagged_any = 0
    for point, (fpr, detector) in zip(fast["operating_points"], detectors.items(), strict=True):
        flags = detector.is_adversarial(x_adv).numpy()
        clean_flags = detector.is_adversarial(x_test).numpy()
        assert point["fpr_target"] == fpr
        assert (point["tpr"]["count"], point["tpr"]["total"]) == (
            int((flags & successful).sum()),
            int(successful.sum()),
        )
        assert (point["fpr"]["count"], point["fpr"]["total"]) == (int(clean_flags.sum()), 30)
        assert point["overall_asr"]["count"] == int((successful & ~flags).sum())
        flagged_any += int(flags.sum())
    scores = loaded.score(x_adv).numpy()
    assert fast["adversarial_score_median"] == float(np.median(scores))
    assert flagged_any > 0


# 7. MagNet's fused score and union of flags ----------------------------------------------


@pytest.mark.parametrize("variant", ["magnet", "magnet_divergence"])
def test_magnet_score_is_the_standardised_max_and_flags_are_the_union(
    variant: str, build, data, tiny_victim: Path
) -> None:
    path, _ = build(variant)
    loaded = _loaded(path, tiny_victim)
    magnet = loaded.detector
    assert isinstance(magnet, MagNet) and len(magnet.detectors) == 2
    names = [type(d).__name__ for d in magnet.detectors]
    if variant == "magnet_divergence":
        assert names == ["ReconstructionErrorDetector", "DivergenceDetector"]
        assert magnet.detectors[1].temperature == 10.0
    else:
        assert names == ["ReconstructionErrorDetector"] * 2
        assert [d.p for d in magnet.detectors] == [2, 1]
    x_val = data["val"][0]
    # The stored location and scale are the clean validation scores' mean and std.
    val_scores = torch.stack([d.score(x_val) for d in magnet.detectors])
    torch.testing.assert_close(magnet.score_location, val_scores.mean(dim=1), rtol=0, atol=0)
    torch.testing.assert_close(magnet.score_scale, val_scores.std(dim=1), rtol=0, atol=0)

    x_test = data["test"][0]
    x = torch.cat([x_val, x_test, _noisy(x_test), 1 - x_test[:5]])
    individual = [d.score(x) for d in magnet.detectors]
    location, scale = magnet.score_location.tolist(), magnet.score_scale.tolist()
    by_hand = torch.stack(
        [(s - mu) / sigma for s, mu, sigma in zip(individual, location, scale, strict=True)]
    ).amax(dim=0)
    torch.testing.assert_close(loaded.score(x), by_hand, rtol=0, atol=1e-12)

    sidecar = json.loads(path.read_text())
    flagged = 0
    for point in sidecar["operating_points"]:
        fpr = point["fpr_target"]
        thresholds = [share["threshold"] for share in point["detectors"]]
        assert [share["fpr_target"] for share in point["detectors"]] == [fpr / 2] * 2
        union = torch.zeros(len(x), dtype=torch.bool)
        for scores, threshold in zip(individual, thresholds, strict=True):
            union |= scores > threshold
        flags = loaded.detector_at(fpr).is_adversarial(x)
        assert torch.equal(flags, union)
        flagged += int(flags.sum())
        for scores, threshold in zip(val_scores, thresholds, strict=True):
            assert int((scores > threshold).sum()) <= math.floor(fpr / 2 * len(x_val))
    assert flagged > 0


# 8. Trapdoor: triggers, trigger success, signature layer ------------------------------------


@pytest.mark.parametrize("variant", ["trapdoor", "trapdoor_layer"])
def test_trapdoor_restores_triggers_and_signature_layer(
    variant: str, build, data, tiny_victim: Path
) -> None:
    path, measurements = build(variant)
    loaded = _loaded(path, tiny_victim)
    assert len(loaded.triggers) == 10
    assert [trigger.label for trigger in loaded.triggers] == list(range(10))
    # The triggers are the seeded ones (same generator stream as the build) ...
    generator = seed_everything(derive_seed(SEED, "trapdoor"))
    expected = make_triggers(10, (1, 28, 28), mask_size=6, generator=generator)
    state = load_file(str(path.with_suffix(".safetensors")))
    for trigger, seeded in zip(loaded.triggers, expected, strict=True):
        assert torch.equal(trigger.mask, seeded.mask)
        assert torch.equal(trigger.pattern, seeded.pattern)
        assert torch.equal(trigger.mask, state[f"trigger.{trigger.label}.mask"])
        assert torch.equal(trigger.pattern, state[f"trigger.{trigger.label}.pattern"])
        assert int(trigger.mask.sum()) == 36
    # ... and, with the loaded model, reproduce the measured trigger success per class.
    success = measurements["trigger_success_test"]
    assert set(success) == {str(label) for label in range(10)}
    x_test = data["test"][0]
    for trigger in loaded.triggers:
        hits = predict(loaded.model, inject(x_test, trigger, 1.0)) == trigger.label
        assert success[str(trigger.label)] == float(hits.float().mean())
    assert measurements["trigger_success_test_mean"] == pytest.approx(
        sum(success.values()) / 10, abs=1e-15
    )
    detector = loaded.detector
    signatures = {label: state[f"signature.{label}"] for label in range(10)}
    assert detector.signatures.keys() == signatures.keys()
    assert all(torch.equal(detector.signatures[k], v) for k, v in signatures.items())
    if variant == "trapdoor":
        assert detector.layer is None
        assert signatures[0].shape == (200,)  # model.features: the last 200-d ReLU
    else:
        trunk = list(loaded.model.trunk.children())
        assert detector.layer is trunk[SIGNATURE_LAYER]
        assert isinstance(detector.layer, torch.nn.MaxPool2d)
        assert signatures[0].shape == (64 * 4 * 4,)


def test_signature_layer_picks_a_trunk_module() -> None:
    model = build_model("multitask_substitute_mnist", in_channels=1, image_size=28, num_classes=10)
    trunk = list(model.trunk.children())
    assert signature_layer(model, None) is None
    assert signature_layer(model, SIGNATURE_LAYER) is trunk[SIGNATURE_LAYER]
    assert signature_layer(model, -1) is trunk[-1]
    with pytest.raises(ValueError, match="signature_layer 15 is out of range for a trunk of 15"):
        signature_layer(model, len(trunk))


def test_squeezers_of_reads_the_config_entries() -> None:
    assert squeezers_of(VARIANTS["feature_squeezing"][1]) == [
        ("bit_depth", {"bits": 1}),
        ("median", {"size": 2}),
    ]


def test_calibrated_detector_shares_the_baseline_score(build, data, tiny_victim: Path) -> None:
    loaded = _loaded(build("feature_squeezing")[0], tiny_victim)
    assert isinstance(loaded.detector, ScoreDetector)
    x = data["val"][0]
    scores = loaded.score(x)
    for fpr, detector in loaded.detectors().items():
        assert torch.equal(detector.score(x), scores)
        threshold = loaded.detector.operating_points[fpr].threshold
        assert detector.score_threshold == threshold
        assert torch.equal(detector.is_adversarial(x), scores > threshold)
