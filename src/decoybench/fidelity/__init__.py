"""Fidelity: why each paper claim does or does not hold on this run (issue 17).

Each paper's claims are re-measured over sweeps of the settings that could explain a gap
with the paper: **scale** (victim trained longer, more test images, the paper's schedule)
and **implementation choices** the paper leaves open (a parameter it does not fix). A sweep
point is a whole, reproducible run of the workflow under its own config (`points`, `run`),
restricted to the cells the paper's claims table needs; `report` reads every point's claims
table beside the default run's and writes one reproduction report per paper: claim → paper
value → ours with interval → verdict → diagnosis → evidence (a figure of the sweep).

Run with `snakemake --cores all fidelity` (not part of `all`); config key `fidelity`.
"""
