"""The README's leaderboard section: generated from tables, verdicts read off intervals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from decoybench.leaderboard.summary import BEGIN, END, readme_section, splice
from decoybench.tables.paper import rate_columns

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def _rate(count: int, low: float, high: float, total: int = 100) -> dict:
    return {"value": count / total, "ci_low": low, "ci_high": high, "count": count, "total": total}


def _tables(tmp_path: Path, oblivious: dict, adaptive: dict, integrated: int | None = None) -> Path:
    board = pd.DataFrame(
        [
            {
                "defense": "detector",
                "n": 100,
                "fpr_target": 0.05,
                **rate_columns("clean_accuracy", _rate(96, 0.90, 0.98)),
                **rate_columns("clean_rejection", _rate(5, 0.02, 0.11)),
                **rate_columns("oblivious_linf_0.3", oblivious),
                **rate_columns("adaptive_linf_0.3", adaptive),
                "flags": "",
            }
        ]
    )
    attacks = pd.DataFrame(
        [
            {
                "defense": "detector",
                "threat": "adaptive",
                "setting": "adaptive",
                "attack": name,
                "fpr_target": 0.05,
                **rate_columns("success_linf_0.3", _rate(count, 0.0, 1.0)),
            }
            for name, count in (("weaker", 10), ("stronger", 40))
        ]
    )
    attacks["deployed"] = "default"
    if integrated is not None:  # a set crafted for another deployment, scored on that one
        other = attacks.iloc[[0]].assign(
            setting="adaptive_integrated", attack="gx_pgd", deployed="integrated"
        )
        other.update(pd.DataFrame([rate_columns("success_linf_0.3", _rate(integrated, 0, 1))]))
        attacks = pd.concat([attacks, other], ignore_index=True)
    board.to_csv(tmp_path / "leaderboard.csv", index=False)
    attacks.to_csv(tmp_path / "adaptive_attacks.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(
    ("oblivious", "adaptive", "verdict"),
    [
        (_rate(10, 0.05, 0.17), _rate(60, 0.50, 0.69), "higher than the oblivious attacks'"),
        (_rate(60, 0.50, 0.69), _rate(10, 0.05, 0.17), "lower than the oblivious attacks'"),
        (_rate(20, 0.13, 0.29), _rate(25, 0.17, 0.34), "not distinguishable"),
    ],
)
def test_the_verdict_comes_from_the_intervals(tmp_path, oblivious, adaptive, verdict) -> None:
    section = readme_section(_tables(tmp_path, oblivious, adaptive))
    assert section.startswith(BEGIN) and section.rstrip().endswith(END)
    assert verdict in section
    # Numbers come from the tables, formatted as the tables are.
    assert f"{100 * adaptive['value']:.1f}% [{100 * adaptive['ci_low']:.1f}, " in section
    assert "its strongest adaptive attack, stronger (adaptive), alone reaches 40.0%" in section
    assert "at 5% FPR" in section
    assert "Deployed as" not in section


def test_another_deployment_is_reported_apart_from_the_worst_case(tmp_path) -> None:
    """A set scored on another deployment (the attractor's integrated M_(d,r)) gets its own
    sentence and never stands as the default deployment's strongest attack, even when it
    is stronger."""
    tables = _tables(tmp_path, _rate(10, 0.05, 0.17), _rate(60, 0.50, 0.69), integrated=90)
    section = readme_section(tables)
    assert "its strongest adaptive attack, stronger (adaptive), alone reaches 40.0%" in section
    assert (
        "Deployed as `integrated` instead (no input rejected), within linf_0.3 its strongest "
        "adaptive attack, gx_pgd (adaptive_integrated), reaches 90.0%"
    ) in section


def test_splice_replaces_only_the_text_between_the_markers() -> None:
    readme = f"head\n{BEGIN}\nold\n{END}\ntail\n"
    assert splice(readme, f"{BEGIN}\nnew\n{END}\n") == f"head\n{BEGIN}\nnew\n{END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        splice("no markers", "x")


def test_the_readme_section_is_generated_from_the_kept_tables() -> None:
    """README.md's leaderboard section is exactly what `make readme` writes from the tables
    it copied to docs/results/mnist5k: no number in it was typed. Before the first
    `make readme` the section is empty (markers only)."""
    readme = (REPOSITORY_ROOT / "README.md").read_text()
    kept = REPOSITORY_ROOT / "docs" / "results" / "mnist5k"
    if not (kept / "leaderboard.csv").exists():
        assert f"{BEGIN}\n{END}" in readme, "README.md has a leaderboard without its tables"
        return
    section = readme_section(kept)
    assert splice(readme, section) == readme, "README.md's leaderboard is stale: make readme"
