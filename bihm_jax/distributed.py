"""Data parallelism over every device of every process, with `jax.sharding` (no `pmap`).

A 1-D mesh with the axis "data" spans all devices (`jax.devices()`: every process's, after
`initialize`). Parameters, optimizer state and the training data are replicated; batches of
data points, samples and chains are sharded along their batch axis, and the compiler (GSPMD)
inserts the reductions of gradients and metrics. Every estimator, surrogate and sampler draws
example b's randomness from `split(key, B)[b]` (threefry is partitionable, so the key of b does
not depend on B either), so the number of devices changes nothing but the order of float sums.

Multi-process (multi-host) runs start the same program in every process, each over its local
devices. Every process reads the whole (small) data split from disk. In training each device
holds the split and gathers its own rows of each batch by the global permutation of the epoch,
so no data crosses hosts; evaluation batches are built by `put`, for which each process copies
only its own devices' rows. Only the lead process (0) writes files.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import jax
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
import numpy as np

from bihm_jax import estimators, model

DATA_AXIS = "data"

T = TypeVar("T")


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto_detect: bool = False) -> None:
  """Starts JAX's distributed runtime when any argument asks for it; a single process otherwise.

  Call it first, before any JAX computation. On CPU the processes talk through gloo.

  Args:
    coordinator_address: "host:port" of process 0's coordinator.
    num_processes: number of processes.
    process_id: this process's index in [0, num_processes).
    auto_detect: with no other argument, let `jax.distributed.initialize()` read the
      cluster from the environment (Slurm, Open MPI, Cloud TPU).
  """
  given = (coordinator_address, num_processes, process_id)
  if any(value is not None for value in given) or auto_detect:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(*given)


def data_mesh() -> Mesh:
  """The 1-D mesh of all devices, axis "data", sharded automatically by the compiler."""
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  """A full copy on every device of the mesh."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, axis: int = 0) -> NamedSharding:
  """Axis `axis` of an array split over the "data" axis of the mesh, the others replicated."""
  return NamedSharding(mesh, PartitionSpec(*[None] * axis, DATA_AXIS))


def put(tree: T, sharding: jax.sharding.Sharding) -> T:
  """Global arrays of `sharding` from host values that every process holds in full.

  Each process copies only the shards of its own devices, so this works on one device, on
  many, and across processes.
  """

  def one(value: Any) -> jax.Array:
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

  return jax.tree.map(one, tree)


def padded_size(size: int, mesh: Mesh) -> int:
  """The smallest multiple of the mesh's device count that is >= size."""
  return -(-size // mesh.size) * mesh.size


def is_lead_process() -> bool:
  """True in process 0, the only one that writes checkpoints, logs and results."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process gets here (no-op with one process), e.g. before reading a file
  that the lead process wrote."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def shard_outputs(fn: Callable[..., T], mesh: Mesh) -> Callable[..., T]:
  """`fn` compiled with the leading (batch) axis of every output split over the mesh.

  For batched functions whose batch axis no input carries, e.g.
  `shard_outputs(functools.partial(sampling.chains_from_p, num_chains=C, inner_k=K), mesh)`:
  the compiler then computes each device's part of the batch on that device. Functions of a
  sharded input (`sampling.run_chains` on such chains) follow their input by themselves.
  """
  return jax.jit(fn, out_shardings=batch_sharding(mesh))


def estimate_log_z2(params: model.Params, key: jax.Array, num_samples: int, inner_k: int,
                    mesh: Mesh) -> tuple[jax.Array, jax.Array]:
  """`estimators.estimate_log_z2` with each chunk's samples spread over the mesh.

  Sample j is drawn from the same key as there, so the value is the same up to the order of
  the sums; chunks hold about `estimators.MAX_CHUNK_ELEMENTS` samples per device.

  Args:
    params: BiHM parameters (replicated).
    key: PRNG key.
    num_samples: outer samples (x, h) ~ p.
    inner_k: samples h' ~ q(h | x) per outer sample.
    mesh: the data mesh.

  Returns:
    `(log_z2, stderr)`, () each.
  """
  return estimators.estimate_log_z2(
      params, key, num_samples, inner_k,
      chunk_size=max(1, estimators.MAX_CHUNK_ELEMENTS * mesh.size // inner_k),
      sample_sharding=batch_sharding(mesh))
