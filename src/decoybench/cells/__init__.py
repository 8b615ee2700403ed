"""Cells: one (setting, defense, attack) each. `deployment` loads the system a cell attacks
(through the defense registry), `craft` crafts its adversarial set, `score` scores the set on
its target, `forensic` the detector metrics, `sanity` the per-set checks; `job` runs a
workflow job's cells (craft then score one cell; a detection-only baseline's cells)."""
