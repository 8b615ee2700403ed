"""`python -m decoybench.tracking flush [--spool-dir DIR]`: write every spooled run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from decoybench.tracking.spool import SPOOL_FOLDER, default_spool_dir, describe_flush, flush_spool


def main(argv: list[str] | None = None) -> int:
    """`python -m decoybench.tracking flush [--spool-dir DIR]`; exit 1 if any run is kept."""
    parser = argparse.ArgumentParser(
        prog="python -m decoybench.tracking", description="MLflow spool of decoybench jobs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    flush = commands.add_parser("flush", help="write every spooled run to MLflow")
    flush.add_argument(
        "--spool-dir",
        type=Path,
        default=None,
        help=f"spool folder (default: results/{SPOOL_FOLDER} under the current directory)",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spool_dir = arguments.spool_dir or default_spool_dir()
    summary = flush_spool(spool_dir)
    print(describe_flush(summary, spool_dir))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
