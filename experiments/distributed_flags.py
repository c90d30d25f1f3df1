"""Flags of multi-process runs, shared by `experiments.train` and `experiments.evaluate`.

Without any of them the program runs as one process over all its local devices.
"""

from absl import flags

from bihm_jax import distributed

_COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0, where the processes meet (multi-process runs).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes (multi-process runs).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Index of this process, 0 to num_processes - 1.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Start JAX's distributed runtime from what the environment tells "
    "(Slurm, Open MPI, Cloud TPU), without --coordinator_address, --num_processes, --process_id.")


def initialize() -> None:
  """Starts the distributed runtime as the flags ask; call it before any JAX computation."""
  distributed.initialize(_COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                         auto_detect=_DISTRIBUTED.value)
