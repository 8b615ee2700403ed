"""Attractors (Zhang, Chang & Lee 2020): a QIM watermark decoder W summed with the victim,
its forensic detector and recovery (decoybench.papers.attractors.defense and the modules it
ties together: qim, model, detector, attractors)."""
