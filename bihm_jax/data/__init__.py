"""Benchmark data for BiHMs: binarized MNIST, the UCI binary benchmarks, dynamic MNIST, synthetic.

  load(name, split, *, data_dir=None, source="auto", cache_dir=None, **options) -> np.ndarray
  dimension(name, **options) -> int;  is_dynamic(name) -> bool
  synthetic_teacher(layer_sizes, seed) -> params whose p half generates "synthetic"
  epoch_batches(key, data_array, batch_size, *, binarize=False) -> (N // B, B, D) float32
  DataError: missing or malformed data

Sources, in the order `source="auto"` tries them: a local folder (`data_dir` or the
`BIHM_DATA_DIR` environment variable), a checksummed download into the cache folder, and
tensorflow-datasets (the `tfds` extra).
"""

from bihm_jax.data.catalog import DATASETS, SPLITS, is_dynamic
from bihm_jax.data.formats import DataError
from bihm_jax.data.pipeline import epoch_batches
from bihm_jax.data.sources import dimension, load
from bihm_jax.data.synthetic import synthetic_teacher

__all__ = [
    "DATASETS",
    "DataError",
    "SPLITS",
    "dimension",
    "epoch_batches",
    "is_dynamic",
    "load",
    "synthetic_teacher",
]
