"""Readers, a writer and checks for the stored forms of the data: `.npz`, `.amat`, IDX.

Every reader raises `DataError` naming the file and the problem; none of them loads a pickle.
"""

import gzip
import os
from pathlib import Path
import struct
import warnings
import zipfile

import numpy as np

PathLike = str | os.PathLike


class DataError(ValueError):
  """Data that is missing, malformed or not what it claims to be."""


def read_npz(path: PathLike, key: str) -> np.ndarray:
  """Array `key` of the `.npz` file at `path`, opened with `allow_pickle=False`."""
  try:
    with np.load(path, allow_pickle=False) as archive:
      if key not in archive.files:
        raise DataError(f"{path}: no array {key!r} (it holds {', '.join(archive.files) or 'nothing'})")
      return archive[key]
  except DataError:
    raise
  except ValueError as e:
    if "pickle" in str(e):
      raise DataError(f"{path}: array {key!r} holds Python objects, which are never unpickled") from e
    raise DataError(f"{path}: not a valid .npz file ({e})") from e
  except (OSError, EOFError, zipfile.BadZipFile) as e:
    raise DataError(f"{path}: truncated or corrupt .npz file ({type(e).__name__}: {e})") from e


def read_amat(path: PathLike) -> np.ndarray:
  """Rows of a text matrix (Larochelle's `.amat`: one row a line, values separated by spaces).

  Returns:
    (N, D) uint8 for files of small non-negative integers (the fast path), else float64,
    for `check_binary` to judge.
  """
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # An empty file: reported by the checks.
    try:
      return np.loadtxt(path, dtype=np.uint8, ndmin=2)
    except ValueError:
      pass  # Not all small integers (e.g. "nan", "0.5" or a short row): parse again as floats.
    try:
      return np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as e:
      raise DataError(f"{path}: malformed or truncated .amat file ({e})") from e


def write_amat(path: PathLike, x: np.ndarray) -> None:
  """Writes (N, D) 0/1 rows in the exact layout of Larochelle's binarized MNIST `.amat` files.

  Each row is its D digits separated by single spaces and ended by a newline.
  """
  x = np.asarray(x)
  if x.ndim != 2 or not np.isin(x, (0, 1)).all():
    raise ValueError(f"write_amat needs a 2-D array of 0s and 1s, got shape {x.shape}")
  text = np.full((x.shape[0], 2 * x.shape[1]), ord(" "), np.uint8)
  text[:, 0::2] = x.astype(np.uint8) + ord("0")
  text[:, -1] = ord("\n")
  Path(path).write_bytes(text.tobytes())


def read_idx_images(path: PathLike) -> np.ndarray:
  """Images of a gzipped IDX file (LeCun's MNIST format) as (N, rows * cols) uint8."""
  try:
    with gzip.open(path, "rb") as f:
      raw = f.read()
  except (OSError, EOFError) as e:
    raise DataError(f"{path}: truncated or corrupt gzip file ({e})") from e
  if len(raw) < 16:
    raise DataError(f"{path}: truncated IDX file (no 16-byte header)")
  magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
  if magic != 2051:
    raise DataError(f"{path}: not an IDX image file (magic number {magic}, expected 2051)")
  if len(raw) != 16 + n * rows * cols:
    raise DataError(f"{path}: truncated IDX file ({len(raw) - 16} bytes of pixels, "
                    f"expected {n} x {rows} x {cols})")
  return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows * cols)


def _check_shape(x: np.ndarray, dim: int, where: str) -> None:
  if x.ndim != 2:
    raise DataError(f"{where} has shape {x.shape}; expected (N, {dim})")
  if x.shape[0] == 0:
    raise DataError(f"{where} has no rows")
  if x.shape[1] != dim:
    raise DataError(f"{where} has {x.shape[1]} columns; expected D = {dim}")
  if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
    raise DataError(f"{where} has dtype {x.dtype}; expected numbers")
  if np.issubdtype(x.dtype, np.inexact) and np.isnan(x).any():
    raise DataError(f"{where} contains NaN")


def check_binary(x: np.ndarray, dim: int, where: str) -> np.ndarray:
  """`x` as uint8 (N, dim) after checking it holds only 0s and 1s.

  Args:
    x: the array as read.
    dim: the expected D.
    where: the file (and split) that `x` came from, for the error messages.
  """
  _check_shape(x, dim, where)
  bad = ~np.isin(x, (0, 1))
  if bad.any():
    raise DataError(f"{where} has values outside {{0, 1}} (found {x[bad][0]})")
  return x.astype(np.uint8)


def check_grey(x: np.ndarray, dim: int, where: str) -> np.ndarray:
  """`x / 255` as float32 (N, dim) in [0, 1] after checking it holds grey levels 0..255."""
  _check_shape(x, dim, where)
  bad = (x < 0) | (x > 255) | (x != np.round(x))
  if bad.any():
    raise DataError(f"{where} has values that are not grey levels 0..255 (found {x[bad][0]})")
  return x.astype(np.float32) / 255.0
