"""decoybench: build, attack and evaluate deception-based defenses (see README.md)."""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/defenses.smk"
include: "rules/attacks.smk"
include: "rules/summary.smk"
include: "rules/attractors.smk"
include: "rules/luring.smk"
include: "rules/multitask.smk"
include: "rules/baselines.smk"
include: "rules/adaptive.smk"
include: "rules/pin.smk"
include: "rules/fidelity.smk"


onstart:
    prepare_tracking()
    flush_tracking(leftovers=True)


onsuccess:
    flush_tracking()


onerror:
    flush_tracking()


rule all:
    input:
        all_outputs(),
    default_target: True


rule attractor:
    """The attractors paper on every target: Tables I-VI and Figures 5 and 7."""
    input:
        attractors.outputs(config),


rule luring:
    """The luring paper on every target: Tables 8, 1/14, 9, 10 and Figures 2 and 3."""
    input:
        luring.outputs(config),


rule multitask:
    """The multitask paper on every target: Tables III-VI, the Classmap, Figures 3-6."""
    input:
        multitask.outputs(config),


rule adaptive:
    """Adaptive attacks on every defense and the leaderboard that ranks them."""
    input:
        leaderboard.outputs(config),


rule fidelity:
    """Issue 17: every paper claim re-measured over sweeps of scale and implementation
    choices, and one reproduction report per paper (results/<dataset>/fidelity/<paper>.md).
    Not part of `all`: each point is a whole run of the workflow (about 45 minutes)."""
    input:
        fidelity.outputs(config),


rule baselines:
    """LID, Feature Squeezing, MagNet and Trapdoor beside the deception defenses: the
    attractors paper's Table III, the luring paper's Table 20 and the heat map."""
    input:
        baselines.outputs(config),
