"""Issue 17's fidelity target: each paper's claims over sweeps of scale and of the choices the
paper leaves open, and one reproduction report per paper (decoybench.fidelity). Not in `all`:
`snakemake --cores all fidelity`."""


wildcard_constraints:
    paper=_alternatives((config.get("fidelity") or {}).get("papers") or {}),
    sweep="[A-Za-z0-9][A-Za-z0-9_.-]*",
    point="[0-9]{2}-[A-Za-z0-9._-]+",


rule fidelity_point:
    """One sweep point: the workflow itself under the paper's base overlay and the point's
    key = value, in its own directory (decoybench.fidelity.run); its claims tables copied."""
    input:
        base=lambda wildcards: fidelity.paper_settings(config, wildcards.paper)["base"],
    output:
        point="results/{dataset}/fidelity/points/{paper}/{sweep}/{point}/point.json",
    params:
        point=lambda wildcards: fidelity.find_point(
            config, wildcards.paper, wildcards.sweep, wildcards.point
        ),
        tables=lambda wildcards: fidelity.paper_settings(config, wildcards.paper)["tables"],
        workdir="results/{dataset}/fidelity/runs/{paper}/{sweep}/{point}",
        # The default config beneath the overlay: a change re-runs every point.
        base_digest=fidelity.base_digest(config),
    threads: (config.get("fidelity") or {}).get("cores_per_point", 1)
    log:
        "logs/fidelity_point/{dataset}/{paper}/{sweep}/{point}.log",
    benchmark:
        "benchmarks/fidelity_point/{dataset}/{paper}/{sweep}/{point}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/fidelity_point.py"


rule fidelity_report:
    """A paper's reproduction report: claim → paper → ours → verdict → diagnosis → evidence,
    the default run's claims beside every sweep point's, a figure per sweep."""
    input:
        points=lambda wildcards: fidelity.point_files(config, wildcards.dataset, wildcards.paper),
        default=lambda wildcards: [
            f"results/{wildcards.dataset}/tables/{table}.csv"
            for table in fidelity.paper_settings(config, wildcards.paper)["tables"]
        ],
    output:
        report="results/{dataset}/fidelity/{paper}.md",
    params:
        settings=lambda wildcards: fidelity.paper_settings(config, wildcards.paper),
        figure_dir="results/{dataset}/fidelity/figures",
    log:
        "logs/fidelity_report/{dataset}/{paper}.log",
    benchmark:
        "benchmarks/fidelity_report/{dataset}/{paper}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/fidelity_report.py"
