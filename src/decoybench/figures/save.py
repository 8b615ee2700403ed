"""Saving a figure: PNG and PDF, each atomically, byte-identical from run to run."""

from __future__ import annotations

from pathlib import Path

from decoybench.io import atomic_path

__all__ = ["save_figure"]


def save_figure(figure: object, png_path: str | Path, pdf_path: str | Path) -> None:
    """Save a matplotlib figure as PNG (150 dpi) and PDF, each atomically.

    The PDF carries no CreationDate (matplotlib stamps the save time by default), so that
    the same run gives byte-identical PDFs, as it does PNGs and tables."""
    undated = {"metadata": {"CreationDate": None}}
    for path, options in ((png_path, {"dpi": 150}), (pdf_path, undated)):
        with atomic_path(path) as temporary:
            figure.savefig(
                temporary, format=Path(path).suffix.lstrip("."), bbox_inches="tight", **options
            )  # type: ignore[attr-defined]
