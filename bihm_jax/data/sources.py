"""`load`: one split of a dataset from a local folder, a checksummed download or TFDS.

`source="auto"` tries the three in that order. A source that does not have the data is
skipped (and its reason reported if none has it); data that a source has but that fails the
checks (or a download whose checksum does not match) is an error at once.
"""

import os
from pathlib import Path
from typing import Any

import numpy as np

from bihm_jax import model
from bihm_jax.data import catalog, download, formats, synthetic
from bihm_jax.data.formats import DataError

DATA_DIR_VARIABLE = "BIHM_DATA_DIR"
SOURCES = ("local", "download", "tfds")


class _Unavailable(Exception):
  """A source that does not have the data; the message says why."""


def dimension(name: str, **options: Any) -> int:
  """D of dataset `name` without loading it (synthetic: `layer_sizes[0]`).

  Raises:
    ValueError: an unknown name (the message lists the known ones) or option.
  """
  spec = catalog.spec(name, options=options)
  if spec.kind == "synthetic":
    return model.check_layer_sizes(options.get("layer_sizes", synthetic.DEFAULT_LAYER_SIZES))[0]
  return spec.dim


def _finish(spec: catalog.Spec, split: str, x: np.ndarray, where: str) -> np.ndarray:
  """Checks values, D and the row count of split `split`; returns what `load` returns."""
  where = f"{where}: split {split!r}"
  check = formats.check_grey if spec.kind == "grey" else formats.check_binary
  x = check(x, spec.dim, where)
  if len(x) != spec.sizes[split]:
    raise DataError(f"{where} has {len(x)} rows, expected {spec.sizes[split]} "
                    "(a truncated file or a different split)")
  return x


def _from_local(name: str, split: str, data_dir: str | os.PathLike | None) -> np.ndarray:
  spec = catalog.DATASETS[name]
  folder = data_dir if data_dir is not None else os.environ.get(DATA_DIR_VARIABLE)
  if not folder:
    raise _Unavailable(f"no data_dir was given and {DATA_DIR_VARIABLE} is not set")
  npz = Path(folder) / catalog.local_file(name)
  if npz.exists():
    return _finish(spec, split, formats.read_npz(npz, split), str(npz))
  if spec.kind != "binary":
    raise _Unavailable(f"{folder} has no {npz.name}")
  amat = Path(folder) / f"{name}_{split}.amat"
  if amat.exists():
    return _finish(spec, split, formats.read_amat(amat), str(amat))
  raise _Unavailable(f"{folder} has neither {npz.name} nor {amat.name}")


def _from_download(name: str, split: str, cache_dir: str | os.PathLike | None) -> np.ndarray:
  spec = catalog.DATASETS[name]
  if name not in download.DOWNLOADS:
    raise _Unavailable(f"no canonical download with a known checksum exists for {name!r}")
  remote = download.DOWNLOADS[name][split]
  try:
    path = download.fetch(remote, cache_dir if cache_dir is not None else download.default_cache_dir())
  except OSError as e:
    raise _Unavailable(f"downloading {remote.url} failed ({e})") from e
  read = formats.read_amat if path.name.endswith(".amat") else formats.read_idx_images
  start, stop = remote.rows
  return _finish(spec, split, read(path)[start:stop], str(path))


def _from_tfds(name: str, split: str) -> np.ndarray:
  spec = catalog.DATASETS[name]
  if spec.tfds is None:
    raise _Unavailable(f"TFDS has no {name!r}")
  try:
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise _Unavailable("tensorflow-datasets is not installed") from e
  tfds_name, tfds_splits = spec.tfds
  where = f"tfds.data_source({tfds_name!r}, split={tfds_splits[split]!r})"
  try:
    records = tfds.data_source(tfds_name, split=tfds_splits[split])
    images = [np.asarray(records[i]["image"]).reshape(-1) for i in range(len(records))]
  except Exception as e:  # pylint: disable=broad-except  # TFDS's own errors are many.
    raise _Unavailable(f"{where} failed ({type(e).__name__}: {e})") from e
  if not images:
    raise DataError(f"{where} has no rows")
  return _finish(spec, split, np.stack(images), where)


def _no_source_message(name: str, split: str, source: str, reasons: dict[str, str]) -> str:
  ways = {
      "local": (f"a local folder (data_dir=... or {DATA_DIR_VARIABLE}) holding "
                f"{catalog.local_file(name)} with arrays train/valid/test"
                + (f" or {name}_{{train,valid,test}}.amat text files" if
                   catalog.DATASETS[name].kind == "binary" else "")),
      "download": (f"a checksummed download into the cache folder (cache_dir=..., "
                   f"BIHM_CACHE_DIR or {download.default_cache_dir()})"),
      "tfds": "tensorflow-datasets (pip install 'bihm_jax[tfds]')",
  }
  lines = [f"no source has dataset {name!r} (split {split!r}); provide it in one of three ways:"]
  for i, way in enumerate(SOURCES, 1):
    lines.append(f"  {i}. {ways[way]}: {reasons.get(way, f'not tried (source={source!r})')}")
  return "\n".join(lines)


def load(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    **options: Any,
) -> np.ndarray:
  """One split of a dataset as a NumPy array.

  Args:
    name: a dataset of `catalog.DATASETS`: "binarized_mnist", "mnist_dynamic", "adult",
      "connect4", "dna", "mushrooms", "nips", "ocr_letters", "rcv1", "web" or "synthetic".
    split: "train", "valid" or "test".
    data_dir: local folder with `<name>.npz` (arrays train/valid/test) or
      `<name>_<split>.amat` files; by default the `BIHM_DATA_DIR` environment variable.
    source: "auto" (local, then download, then TFDS), "local", "download" or "tfds".
      Synthetic data is generated and ignores the sources.
    cache_dir: download cache; by default `BIHM_CACHE_DIR`, else `~/.cache/bihm_jax`.
    **options: for "synthetic" only: `layer_sizes=(8, 5, 3)`, `seed=0`, `num_examples`
      (default 2000 / 500 / 500 for train / valid / test).

  Returns:
    Binary datasets: (N, D) uint8 in {0, 1}. "mnist_dynamic": (N, 784) float32 grey-level
    probabilities pixel / 255 in [0, 1], to be binarized afresh each epoch.

  Raises:
    ValueError: an unknown dataset, split, source or option.
    DataError: no source has the data (the message names the three ways to provide it), or
      the data fails a check (the message names the file and the problem).
  """
  spec = catalog.spec(name, split, options)
  if source != "auto" and source not in SOURCES:
    raise ValueError(f"unknown source {source!r}; choose from 'auto', {', '.join(map(repr, SOURCES))}")
  if spec.kind == "synthetic":
    return synthetic.load_synthetic(split, **options)
  readers = {
      "local": lambda: _from_local(name, split, data_dir),
      "download": lambda: _from_download(name, split, cache_dir),
      "tfds": lambda: _from_tfds(name, split),
  }
  reasons = {}
  for candidate in SOURCES if source == "auto" else (source,):
    try:
      return readers[candidate]()
    except _Unavailable as e:
      reasons[candidate] = str(e)
  raise DataError(_no_source_message(name, split, source, reasons))
