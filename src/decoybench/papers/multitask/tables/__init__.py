"""The multi-task paper's tables (Wang et al. 2019), built from cell metrics and the sidecar.

Inputs: the cell metrics JSONs (`decoybench.cells.score.evaluate_adversarial_set`;
a multitask cell also holds `multitask`, `decoybench.papers.multitask.cell`) and the
multitask defense sidecar (`defense.json`, with `table6` and `classmap`,
`decoybench.papers.multitask.build`). Every rate is one stored by those modules
(`decoybench.metrics.Rate.as_dict`), printed as stored, never recomputed; the
paper's numbers beside ours are in `decoybench.papers.multitask.paper_numbers`.

Cells are selected by setting kind, defense and registry attack (name and parameters: ε,
κ = `confidence`, target mode), never by config key; the key is shown in each row.

Tables (name: what it reproduces):

* ``multitask_blackbox``: Table III, accuracy of the bare and the defended oracle on
  non-targeted examples crafted on the substitute (kind ``transfer``);
* ``multitask_greybox``: Table IV, detection rate, recall, precision and benign
  mis-detection on examples crafted on the defended network without Z′ (kind ``greybox``);
* ``multitask_cw_sweep``: the data of Figures 3, 4 and 5, C&W L2 (`cw2`) over κ;
* ``multitask_near_whitebox``: Table V, generation rate of the combined-loss C&W
  (`cw2_combined`) on the bare oracle (``whitebox`` / ``undefended``) and on the defended
  model (``near_whitebox``), non-targeted and targeted, per κ;
* ``multitask_benign``: Table VI and Sec. IV-E, benign accuracy and mis-detection;
* ``multitask_classmap``: the training Classmap (Eq. 6, 8; Fig. 6's last panel);
* ``multitask_claims``: the paper's qualitative claims against explicit thresholds.

Modules: `inputs` (the cells and the sidecar, loaded), `attacks` (Tables III, IV, V and
the C&W sweep), `benign` (Table VI, the Classmap), `claims` and `write` (every table,
written). `decoybench.tables.paper` writes them: the CSV with each rate's value, 95% interval,
count and total; the Markdown with `format_rate` under a one-line caption.
"""
