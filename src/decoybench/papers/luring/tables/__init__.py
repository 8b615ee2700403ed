"""The luring paper's tables (Bernhard et al. 2021), built from cell metrics and sidecars.

Inputs: the cell metrics JSONs (`decoybench.cells.score.evaluate_adversarial_set`;
a luring cell also holds `luring`, `decoybench.papers.luring.cell`), the luring defense
sidecars (`defense.json`, with `table8`, `decoybench.papers.luring.build`) and, for Table 10,
the luring analysis npz (Ω_c of Eq. 5 per example, class and defense). Every rate is one of
`decoybench.metrics` (DR, IAR: Eq. 3; AC_MoP, AC_M: Table 1; DAC: Eq. 4; MIM-W:
`worst_case_attack`), never recomputed another way; the paper's numbers beside ours are in
`decoybench.papers.luring.paper_numbers`.

Tables (name: what it reproduces):

* ``luring_agreement``: Table 8, test accuracy and agreement of each M∘P with M;
* ``luring_characterization``: the data of Figure 2, DR and IAR over the X' that fool every
  M∘P (Sec. 3.2: "transfer to M only the adversarial examples that are successful for these
  four models");
* ``luring_defense``: Table 1 (SVHN, CIFAR10) / Table 14 (MNIST), AC_MoP, AC_M, DAC;
* ``luring_distortion``: Table 9 and Figure 3 (left), mean l0, l2, l∞ of the attack;
* ``luring_logits``: Table 10, the rate of examples with Ω_c(Luring) above the others';
* ``luring_claims``: the paper's qualitative claims against explicit thresholds.
* ``luring_adaptive``: issue 16, the strongest transfers from T (inside the threat model)
  and a decision-based attack on M's labels (outside it), labelled.

`decoybench.tables.paper` writes them: the CSV with each rate's value, 95% interval,
count and total; the Markdown with `format_rate` under a one-line caption.

Modules: `inputs` (the cells and sidecars, shared helpers), one per table family
(`agreement`, `characterization`, `defense`, `distortion`, `logits`, `claims`, `threat`)
and `write`
(assembling, Markdown, writing).
"""
