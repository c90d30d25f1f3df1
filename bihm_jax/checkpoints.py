"""Atomic checkpoints of any pytree as flax msgpack files.

A checkpoint is written to a temporary file in the same folder, flushed to disk and renamed
over the old one with `os.replace`, so a crash mid-write leaves the previous checkpoint intact.
"""

import os
import tempfile
from typing import Any, TypeVar

from flax import serialization
import jax

T = TypeVar("T")


def save(path: str | os.PathLike, tree: Any) -> None:
  """Writes `tree` (arrays, dicts, lists, tuples, flax dataclasses) to `path` atomically."""
  path = os.fspath(path)
  folder = os.path.dirname(path) or "."
  os.makedirs(folder, exist_ok=True)
  payload = serialization.to_bytes(jax.device_get(tree))
  fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp_path, path)
  except BaseException:
    os.unlink(tmp_path)
    raise


def restore(path: str | os.PathLike, target: T) -> T | None:
  """Reads the checkpoint at `path` into the structure of `target`; None if there is none.

  Args:
    path: a file written by `save`.
    target: a pytree of the same structure (e.g. freshly initialised state); its leaves
      give the structure only, their values are replaced.

  Returns:
    The restored pytree with numpy leaves, or None when `path` does not exist.
  """
  if not os.path.exists(path):
    return None
  with open(path, "rb") as f:
    return serialization.from_bytes(target, f.read())
