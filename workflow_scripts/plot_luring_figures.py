"""Snakemake entry: luring Figure 2 (DR, IAR against ε) and Figure 3 (l0 distortion,
saliency maps) (decoybench.papers.luring.figures)."""

import pandas as pd

from decoybench.io import read_npz
from decoybench.papers.luring.figures import (
    plot_luring_distortion,
    plot_luring_rates,
    plot_luring_saliency,
    save_luring_figure,
)
from decoybench.workflow import job

FIGURES = (
    "rates_png",
    "rates_pdf",
    "distortion_png",
    "distortion_pdf",
    "saliency_png",
    "saliency_pdf",
)

with job(snakemake, artifacts=FIGURES) as run:
    output = snakemake.output
    characterization = pd.read_csv(snakemake.input.characterization)
    distortion = pd.read_csv(snakemake.input.distortion)
    measurements = read_npz(snakemake.input.measurements)
    save_luring_figure(plot_luring_rates(characterization), output.rates_png, output.rates_pdf)
    save_luring_figure(
        plot_luring_distortion(distortion), output.distortion_png, output.distortion_pdf
    )
    save_luring_figure(plot_luring_saliency(measurements), output.saliency_png, output.saliency_pdf)
