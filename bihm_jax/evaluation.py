"""Likelihood estimates over whole data sets, with standard errors (reference section 3).

`evaluate` reports, for each K, the mean and standard error over data points of the bound
2 log p~*_K(x), of log p_K(x) (importance sampling with q), of log p*(x) = 2 log p~*_K(x) - log Z^2
and of the Bhattacharyya distance estimate (log p_K(x) - 2 log p~*_K(x)) / 2, with log Z^2 and
its standard error from `estimate_log_z2`. `write_results` stores the summary as JSON and the
per-data-point values as `.npy` files.

Long passes (K = 10^5 over a test set is hours on a CPU) can resume: with a `progress_dir`,
`batched_curves` saves the batches it has finished to a file named after a hash of its inputs
(model, key, data, K values, batch size) about once a minute, and a rerun with the same inputs
starts after them, with the same values as an uninterrupted pass; the file also keeps the seconds
the pass has run, so that its budget counts every run.

Both run data-parallel over a mesh of devices (`bihm_jax.distributed`; default: all of them):
data points and Z^2 samples are split over the devices and draw the keys they would draw on one
device, so the results are those of one device up to the order of float sums. With several
processes, every process passes the same arguments and gets the same results.
"""

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from absl import logging
import jax
from jax.sharding import Mesh
import numpy as np
import tqdm

from bihm_jax import distributed, estimators, model

Params = model.Params

# Seconds between saves of a resumable pass's finished batches.
PROGRESS_SAVE_SECONDS = 60.0


def _fingerprint(params: Params, key: jax.Array, x: np.ndarray, ks: Sequence[int], batch_size: int) -> str:
  """A hex digest of everything that fixes `batched_curves`' values."""
  if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  leaves = [np.asarray(leaf) for leaf in jax.tree.leaves((params, key))]
  digest = hashlib.sha256(repr((jax.tree.structure(params), [(a.shape, a.dtype.str) for a in leaves],
                                x.shape, tuple(ks), batch_size)).encode())
  for array in [*leaves, np.asarray(x, np.float32)]:
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()


class _Progress:
  """The finished batches of one `batched_curves` pass, saved atomically to `folder`."""

  def __init__(self, folder: str | os.PathLike, fingerprint: str, shape: tuple[int, ...]):
    self.path = os.path.join(folder, f"partial-{fingerprint[:16]}.npz")
    self.fingerprint = fingerprint
    self.done = np.zeros(shape[0], bool)
    self.values = np.zeros((2, *shape), np.float32)
    self.resumed_seconds = 0.0   # run by earlier, interrupted runs, to their last save
    if os.path.exists(self.path):
      with np.load(self.path) as saved:
        if str(saved["fingerprint"]) == fingerprint:
          self.done, self.values = saved["done"], saved["values"]
          self.resumed_seconds = float(saved["seconds"])
          logging.info("resuming from %s: %d of %d batches done in %.0f s", self.path, self.done.sum(),
                       len(self.done), self.resumed_seconds)
    self.started = self.last_save = time.monotonic()

  def finished(self, i: int) -> None:
    """Marks batch i (its values written to `self.values[:, i]`) done; saves once a minute."""
    self.done[i] = True
    if time.monotonic() - self.last_save >= PROGRESS_SAVE_SECONDS:
      self.save()

  def save(self) -> None:
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    temporary = self.path + ".tmp"
    with open(temporary, "wb") as f:
      np.savez(f, fingerprint=self.fingerprint, done=self.done, values=self.values,
               seconds=self.resumed_seconds + time.monotonic() - self.started)
    os.replace(temporary, self.path)
    self.last_save = time.monotonic()

  def remove(self) -> None:
    if os.path.exists(self.path):
      os.remove(self.path)


class Curves(NamedTuple):
  """The values of a `batched_curves` pass."""
  bound: np.ndarray              # (N, len(ks)) 2 log p~*_K(x)
  log_px: np.ndarray             # (N, len(ks)) log p_K(x)
  resumed_seconds: float         # the pass's time in earlier, interrupted runs (to their last save)


@functools.cache
def _sharded_curves(mesh: Mesh) -> Callable[..., tuple[jax.Array, jax.Array]]:
  """`log_likelihood_curves` returning replicated values, readable in every process."""
  return jax.jit(estimators.log_likelihood_curves, static_argnames=("ks", "chunk_size"),
                 out_shardings=distributed.replicated(mesh))


def batched_curves(params: Params, key: jax.Array, x: np.ndarray, ks: Sequence[int], batch_size: int, *,
                   desc: str | None = None, mesh: Mesh | None = None,
                   progress_dir: str | os.PathLike | None = None) -> Curves:
  """`log_likelihood_curves` over a whole data set, `batch_size` rows at a time.

  The last batch is padded with zero rows whose values are dropped, so every call has the
  same shape and compiles once. Batch i draws its samples under `fold_in(key, i)`. Each batch
  is split over the devices of `mesh`, padded with zero rows to a multiple of their number
  (which leaves the keys of the real rows as they are).

  Args:
    params: BiHM parameters.
    key: PRNG key.
    x: (N, D) binary data.
    ks: sample counts K; one pass draws max(ks) samples per data point.
    batch_size: rows per call.
    desc: label of the progress bar (shown on a terminal of the lead process only).
    mesh: the data mesh; default: all devices.
    progress_dir: where to save finished batches (`partial-<hash>.npz`, removed at the end) and
      resume from them; default: no saving. Only a single process saves or resumes.

  Returns:
    `Curves`: float32 (N, len(ks)) arrays `bound` of 2 log p~*_K(x) and `log_px` of log p_K(x),
    and `resumed_seconds`, the seconds earlier runs spent on the batches this one resumed from.
  """
  mesh = distributed.data_mesh() if mesh is None else mesh
  n, dim = x.shape
  num_batches = -(-n // batch_size)
  rows = distributed.padded_size(batch_size, mesh)
  padded = np.zeros((num_batches * batch_size, dim), np.float32)
  padded[:n] = x
  padded = np.pad(padded.reshape(num_batches, batch_size, dim), ((0, 0), (0, rows - batch_size), (0, 0)))
  progress = None
  if progress_dir is not None and jax.process_count() == 1:
    progress = _Progress(progress_dir, _fingerprint(params, key, x, ks, batch_size),
                         (num_batches, batch_size, len(ks)))
  values = np.zeros((2, num_batches, batch_size, len(ks)), np.float32) if progress is None else progress.values
  params, key = distributed.put((params, key), distributed.replicated(mesh))
  # About MAX_CHUNK_ELEMENTS samples in flight per device.
  chunk_size = max(1, estimators.MAX_CHUNK_ELEMENTS * mesh.size // rows)
  todo = range(num_batches) if progress is None else np.flatnonzero(~progress.done)
  for i in tqdm.tqdm(todo, desc=desc, disable=None if distributed.is_lead_process() else True, leave=False):
    outputs = _sharded_curves(mesh)(params, jax.random.fold_in(key, i),
                                    distributed.put(padded[i], distributed.batch_sharding(mesh)), tuple(ks),
                                    chunk_size)
    values[:, i] = [v[:batch_size] for v in jax.device_get(outputs)]
    if progress is not None:
      progress.finished(int(i))
  if progress is not None:
    progress.remove()
  bound, log_px = (v.reshape(-1, len(ks))[:n] for v in values)
  return Curves(bound, log_px, 0.0 if progress is None else progress.resumed_seconds)


def batched_estimates(params: Params, key: jax.Array, x: np.ndarray, k: int, batch_size: int, *,
                      desc: str | None = None, mesh: Mesh | None = None) -> tuple[np.ndarray, np.ndarray]:
  """`batched_curves` at the one sample count `k`: (N,) arrays of 2 log p~*_K(x) and log p_K(x)."""
  curves = batched_curves(params, key, x, (k,), batch_size, desc=desc, mesh=mesh)
  return curves.bound[:, 0], curves.log_px[:, 0]


def mean_and_stderr(values: np.ndarray) -> dict[str, float]:
  """{"mean", "se"} of (N,) values; se = sample standard deviation / sqrt(N) (0 when N = 1)."""
  values = np.asarray(values, np.float64)
  se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
  return {"mean": float(np.mean(values)), "se": se}


def evaluate(params: Params, key: jax.Array, x: np.ndarray, ks: Sequence[int], z_samples: int, *,
             z_inner_k: int = 1, batch_size: int = 100, mesh: Mesh | None = None,
             progress_dir: str | os.PathLike | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """The test-set report of a trained model.

  One pass of max(ks) importance samples per point serves every K (the estimate at K uses the
  first K samples), so the estimates for increasing K are nested.

  Args:
    params: BiHM parameters.
    key: PRNG key.
    x: (N, D) binary data.
    ks: sample counts K to report.
    z_samples: outer samples (x, h) ~ p of the log Z^2 estimate.
    z_inner_k: inner samples h' ~ q(h | x) per outer sample.
    batch_size: data points per call.
    mesh: the data mesh; default: all devices.
    progress_dir: where the pass over the data saves its progress and resumes (see
      `batched_curves`); default: no saving.

  Returns:
    `(summary, arrays)`. `summary` is JSON-ready: num_points, log_z2, log_z2_se, z_samples,
    z_inner_k, seconds (wall time, with that of earlier runs of a resumed pass), and under
    "k" -> str(K) the {"mean", "se"} of "two_log_ptilde", "log_px", "log_pstar" (se combines
    both terms: sqrt(se_bound^2 + se_logz2^2)) and "bhattacharyya". `arrays` holds the (N,)
    values "two_log_ptilde_k{K}" and "log_px_k{K}".
  """
  start = time.perf_counter()
  mesh = distributed.data_mesh() if mesh is None else mesh
  params, key = distributed.put((params, key), distributed.replicated(mesh))
  z_key, is_key = jax.random.split(key)
  log_z2, log_z2_se = (float(v) for v in distributed.estimate_log_z2(params, z_key, z_samples, z_inner_k,
                                                                      mesh))
  summary = {"num_points": int(x.shape[0]), "log_z2": log_z2, "log_z2_se": log_z2_se,
             "z_samples": z_samples, "z_inner_k": z_inner_k, "k": {}}
  arrays = {}
  curves = batched_curves(params, is_key, x, ks, batch_size, desc=f"K<={max(ks)}", mesh=mesh,
                          progress_dir=progress_dir)
  for k, bound, log_px in zip(ks, curves.bound.T, curves.log_px.T):
    bound_stats = mean_and_stderr(bound)
    summary["k"][str(k)] = {
        "two_log_ptilde": bound_stats,
        "log_px": mean_and_stderr(log_px),
        "log_pstar": {"mean": bound_stats["mean"] - log_z2,
                      "se": math.hypot(bound_stats["se"], log_z2_se)},
        "bhattacharyya": mean_and_stderr((log_px - bound) / 2.0),
    }
    arrays[f"two_log_ptilde_k{k}"] = bound
    arrays[f"log_px_k{k}"] = log_px
  summary["seconds"] = time.perf_counter() - start + curves.resumed_seconds
  return summary, arrays


def write_results(folder: str | os.PathLike, summary: dict[str, Any],
                  arrays: dict[str, np.ndarray]) -> None:
  """Writes `folder/summary.json` and one `folder/<name>.npy` per array."""
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  for name, values in arrays.items():
    np.save(os.path.join(folder, f"{name}.npy"), values)
