"""Pinning a finished run: its data and checkpoints in DVC, for `git checkout <tag> && dvc pull`."""


# DVC pushes to the remote: run on the head node, like the downloads.
localrules:
    pin,


rule pin:
    """Not part of `all`: `snakemake --cores all pin` after a finished run adds data/ and every
    checkpoint (results/{dataset}/models, results/{dataset}/defenses; with config
    `pin.adversarial_sets`, also adv, eval and analysis) to DVC, pushes them and writes
    pins.json (decoybench.pinning). Commit pins.json and the .dvc files and tag
    the commit: `git checkout <tag> && dvc pull && snakemake --cores all` then rebuilds every
    table and figure from the pinned checkpoints."""
    input:
        all_outputs(),
    output:
        manifest="pins.json",
    log:
        "logs/pin.log",
    benchmark:
        "benchmarks/pin.tsv"
    params:
        datasets=config["targets"],
        remote=(config.get("pin") or {}).get("remote"),
        adversarial_sets=(config.get("pin") or {}).get("adversarial_sets", False),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/pin_run.py"
