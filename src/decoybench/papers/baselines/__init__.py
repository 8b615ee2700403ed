"""The baseline detectors LID, Feature Squeezing, MagNet and Trapdoor
(decoybench.defenses.baselines), deployed beside the deception defenses."""
