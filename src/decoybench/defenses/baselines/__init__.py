"""Baseline detectors the deception papers compare against (issue 7): LID, Feature Squeezing,
MagNet and Trapdoor, each a `ScoreDetector` (decoybench.papers.baselines.detector)."""
