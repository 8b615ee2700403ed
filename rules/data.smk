"""Datasets: raw source -> canonical uint8 store with a checksummed manifest."""


# Downloads need internet, which cluster compute nodes often lack: run on the head node.
localrules:
    prepare_dataset,


rule prepare_dataset:
    """Write data/{dataset}/{train,val,test}.npz and manifest.json (SHA-256 per split)."""
    output:
        train="data/{dataset}/train.npz",
        val="data/{dataset}/val.npz",
        test="data/{dataset}/test.npz",
        manifest="data/{dataset}/manifest.json",
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    params:
        settings=lambda wildcards: config["datasets"][wildcards.dataset],
        raw_root="downloads",
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/prepare_dataset.py"
