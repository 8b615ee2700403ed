"""Datasets: raw sources and the canonical, checksummed store under data/{dataset}/."""

from decoybench.data.sources import DATASETS, DatasetUnavailable, load_source
from decoybench.data.store import (
    SPLITS,
    DataIntegrityError,
    Split,
    dataset_fingerprint,
    load_split,
    prepare_dataset,
    read_manifest,
)

__all__ = [
    "DATASETS",
    "SPLITS",
    "DataIntegrityError",
    "DatasetUnavailable",
    "Split",
    "dataset_fingerprint",
    "load_source",
    "load_split",
    "prepare_dataset",
    "read_manifest",
]
