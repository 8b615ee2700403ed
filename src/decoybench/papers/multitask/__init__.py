"""Collaborative multi-task training (Wang et al. 2019): the Classmap, the auxiliary head Z′
and the gradient lock (decoybench.papers.multitask.defense)."""
