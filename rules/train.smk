"""Training of the victim and the substitutes."""


rule train_model:
    """Train one model of config `models` on a dataset; safetensors + JSON sidecar."""
    input:
        unpack(dataset_files),
    output:
        weights="results/{dataset}/models/{model}.safetensors",
        sidecar="results/{dataset}/models/{model}.json",
    log:
        "logs/train_model/{dataset}/{model}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}.tsv"
    params:
        model=lambda wildcards: config["models"][wildcards.model],
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/train_model.py"
