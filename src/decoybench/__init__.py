"""decoybench: build, attack and evaluate deception-based adversarial defenses.

The package import stays light (no torch): the Snakefile imports it at parse time.
"""

__version__ = "0.1.0"
