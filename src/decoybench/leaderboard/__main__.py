"""`python -m decoybench.leaderboard readme [--dataset D]`: write the README's leaderboard
section from a finished run's tables (decoybench.leaderboard.summary), and copy the fidelity
run's reproduction reports, where there are any, beside them (docs/results/<dataset>/); `make
readme`."""

from __future__ import annotations

import argparse
from pathlib import Path

from decoybench.fidelity.report import copy_reports
from decoybench.leaderboard.summary import update_readme


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m decoybench.leaderboard")
    parser.add_argument("command", choices=["readme"])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    arguments = parser.parse_args(argv)
    tables = Path("results") / arguments.dataset / "tables"
    missing = [name for name in ("leaderboard.csv",) if not (tables / name).exists()]
    if missing:
        parser.error(f"{tables}/{missing[0]} does not exist: run `make run` first")
    docs = Path("docs") / "results" / arguments.dataset
    update_readme(tables, arguments.readme, docs)
    print(f"{arguments.readme}: leaderboard section written from {tables}")
    fidelity = Path("results") / arguments.dataset / "fidelity"
    if fidelity.is_dir():
        copies = copy_reports(fidelity, docs / "fidelity")
        print(f"{docs / 'fidelity'}: {len(copies)} reproduction report files copied")


if __name__ == "__main__":
    main()
