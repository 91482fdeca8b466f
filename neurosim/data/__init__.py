"""Training data: the IDX reader, Fashion-MNIST / MNIST from local files, generated tasks
(NIST 7x7 letters, n-bit parity), class subsets and the checksum-verified downloader."""

from neurosim.data.datasets import DATASETS, find_dataset_dir, load_dataset, task_shape
from neurosim.data.fetch import fetch_dataset
from neurosim.data.idx import read_idx
from neurosim.data.record import Dataset, subset_classes

__all__ = [
    "DATASETS",
    "Dataset",
    "fetch_dataset",
    "find_dataset_dir",
    "load_dataset",
    "read_idx",
    "subset_classes",
    "task_shape",
]
