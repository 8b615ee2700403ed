"""Luring (Bernhard et al. 2021): a component P trained in front of the hidden target M, the
augmented model T = M∘P published (decoybench.papers.luring.defense)."""
