"""The baseline detector types (decoybench.defense_registry). LID, Feature Squeezing and
MagNet leave the victim unchanged: their cells score the victim's white-box sets. Trapdoor
retrains it: its cells are crafted on the trapdoored model, which a transfer setting makes
public (the luring paper's Table 20)."""

from decoybench.defense_registry import DefenseType, Detector

_BUILD = {
    "builder": "decoybench.papers.baselines.system:build",
    "build_rule": "build_baseline_defense",
    "build_outputs": {"defense": "defense.json", "tensors": "defense.safetensors"},
    "deploy": "decoybench.papers.baselines.system:deploy",
    "compared": True,
}

DEFENSE_TYPES = (
    DefenseType(
        name="lid",
        title="LID",
        summary="logistic regression on k-NN LID features (Ma et al. 2018)",
        kinds=("forensic", "adaptive"),
        schema="lid.schema.yaml",
        detector=Detector("regression on minibatch LID estimates (k-NN ranks)"),
        detection_only=True,
        attack_settings=("training_attack",),
        **_BUILD,
    ),
    DefenseType(
        name="feature_squeezing",
        title="FS",
        summary="largest L1 change of the softmax under squeezing (Xu et al. 2018)",
        kinds=("forensic", "adaptive"),
        schema="feature_squeezing.schema.yaml",
        detector=Detector(
            "max L1 between softmax(x) and softmax(squeeze(x))",
            gradient="surrogate",
            surrogate="straight-through squeezers (bit depth, median)",
        ),
        detection_only=True,
        **_BUILD,
    ),
    DefenseType(
        name="magnet",
        title="MagNet",
        summary="autoencoder detectors and reformer (Meng & Chen 2017)",
        kinds=("forensic", "adaptive"),
        schema="magnet.schema.yaml",
        detector=Detector("largest detector score in units of its clean spread"),
        detection_only=True,
        **_BUILD,
    ),
    DefenseType(
        name="trapdoor",
        title="Trapdoor",
        summary="trapdoored victim and neuron-signature detector (Shan et al. 2020)",
        kinds=("forensic", "transfer", "adaptive"),
        schema="trapdoor.schema.yaml",
        detector=Detector("cosine of activations to the predicted label's signature"),
        publishes_model=True,
        **_BUILD,
    ),
)
