"""Timing, matmul peak, FLOP counts and reporting shared by the benchmarks."""

from collections.abc import Callable, Sequence
import json
import os
import platform
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bihm_jax import data, distributed, training
from experiments.configs import mnist

# The paper's 12-layer binarized-MNIST architecture.
MNIST_SIZES = (784, 300, 200, 100, 75, 50, 35, 30, 25, 20, 15, 10, 10)


def median_seconds(fn: Callable[[], Any], *, warmup: int = 2, repeats: int = 10) -> float:
  """Median wall time of `fn()` (its result blocked on) over `repeats` calls after `warmup`."""
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def matmul_peak_flops(n: int = 2048, repeats: int = 10) -> float:
  """FLOP/s of a large float32 `jnp.dot` (n x n by n x n) on the default device, median of runs."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
  dot = jax.jit(jnp.dot)
  return 2 * n**3 / median_seconds(lambda: dot(a, b), repeats=repeats)


def training_flops(sizes: Sequence[int], batch: int, k: int) -> float:
  """Essential matmul FLOPs of one training step of a BiHM (or RWS) with K samples.

  Per sample: the q sampling pass (2 n_in n_out per layer), the p log-prob pass (the same per
  layer) and the weight gradients of both (the same again each); inputs to each layer are
  samples, so no input gradients are needed: 8 sum_l n_{l-1} n_l. The first q layer reads the
  data x, which all K samples share, so its forward and weight gradient count once per example.
  """
  pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
  per_sample = 8 * sum(pairs) - 4 * pairs[0]
  return batch * (k * per_sample + 4 * pairs[0])


def estimate_flops(sizes: Sequence[int], num_samples: int) -> float:
  """Essential matmul FLOPs of scoring `num_samples` importance samples (no gradients): the q
  sampling pass and the p log-prob pass, 4 sum_l n_{l-1} n_l each sample."""
  return num_samples * 4 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def mnist_train_x() -> np.ndarray:
  """Binarized MNIST's training split from BIHM_DATA_DIR, else random bits of its density."""
  try:
    return data.load("binarized_mnist", "train", source="local")
  except data.DataError:
    return (np.random.default_rng(0).random((50_000, 784)) < 0.13).astype(np.uint8)


def training_call(method: str, batch: int, k: int, x: np.ndarray, mesh: jax.sharding.Mesh | None = None):
  """A zero-argument function running one call of the training program's epoch function on
  `x` (one step when x holds B rows) for the MNIST model, threading the state through calls.
  With a `mesh`, each batch is split over its devices as in `training.train_and_evaluate`."""
  config = mnist.get_config()
  config.method, config.batch_size, config.k = method, batch, k
  optimizer, schedule = training.make_optimizer(config, steps_per_epoch=len(x) // batch)
  epoch_fn = training.make_train_epoch(training.make_loss(config), optimizer, schedule, batch,
                                       binarize=False, mesh=mesh)
  state = training.create_train_state(config, optimizer)
  if mesh is None:
    state, x = jax.device_put((state, x))
  else:
    state, x = distributed.put((state, x), distributed.replicated(mesh))
  holder = {"state": state, "epoch": 0}

  def run():
    holder["state"], metrics = epoch_fn(holder["state"], x, jnp.int32(holder["epoch"]))
    holder["epoch"] += 1
    return metrics["loss"]

  return run


def machine() -> dict[str, Any]:
  """Where the numbers came from."""
  device = jax.devices()[0]
  return {"platform": device.platform, "device": device.device_kind, "devices": jax.device_count(),
          "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
          "jax": jax.__version__}


def write_json(json_path: str | None, payload: dict[str, Any]) -> None:
  """Writes `payload` and the `machine()` it ran on to `json_path` (nothing when empty)."""
  if json_path:
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w", encoding="utf-8") as f:
      json.dump({**payload, "machine": machine()}, f, indent=2)
    print(f"wrote {json_path}")


def report(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], json_path: str | None,
           extra: dict[str, Any]) -> None:
  """Prints `rows` as a table of `columns` (key, format) and writes them with `extra` as JSON."""
  widths = [max(len(key), 12) for key, _ in columns]
  print("  ".join(key.rjust(w) for (key, _), w in zip(columns, widths)))
  for row in rows:
    print("  ".join(format(row[key], fmt).rjust(w) for (key, fmt), w in zip(columns, widths)))
  write_json(json_path, {**extra, "rows": rows})
