"""Dataset readers (one module per file format), the prepared cache, and the registry that names them."""

from skelrec.datasets import msr_action3d, msr_daily, msrc12, ntu, nw_ucla, pku, pku_streams, utd_mhad, video_folder  # noqa: F401  (register readers)
from skelrec.datasets.base import DATASETS, DatasetReader, Sample, get_reader, register_dataset

__all__ = ["DATASETS", "DatasetReader", "Sample", "get_reader", "register_dataset"]
