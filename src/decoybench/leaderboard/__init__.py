"""The leaderboard: every defense ranked by the per-sample worst case of the attacks that
know it (`adaptive`) beside those that do not (`oblivious`), each scored against the same
deployed classifier and detector (decoybench.cells.adaptive)."""
