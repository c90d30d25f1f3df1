"""One process of a run in tests/test_distributed.py: trains the synthetic model, evaluates fixed
parameters and runs Gibbs chains over the devices (and processes) it is given, then prints a
JSON report on its last line. The devices come from JAX_NUM_CPU_DEVICES.

  python -m tests.distributed_worker WORKDIR [COORDINATOR_ADDRESS NUM_PROCESSES PROCESS_ID]
"""

import functools
import json
import os
import sys

from bihm_jax import distributed

CONFIG_OVERRIDES = {"num_epochs": 2, "batch_size": 100, "valid_k": 10, "eval_batch_size": 30}
EVAL_KS = (100,)
Z_SAMPLES = 50_000
NUM_CHAINS = 8


def record_writes(folder: str) -> list[str]:
  """Audit events of this process that write under `folder` (opens for writing, renames,
  new folders), appended to the returned list as they happen."""
  folder = os.path.realpath(folder)
  writes = []

  def under(path) -> bool:
    return (isinstance(path, (str, bytes, os.PathLike))
            and os.path.realpath(os.fsdecode(path)).startswith(folder))

  def hook(event, args):
    if event == "open" and under(args[0]):
      mode, flags = args[1] or "", args[2] or 0
      if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        writes.append(f"open {args[0]}")
    elif event in ("os.rename", "os.mkdir", "os.remove") and under(args[0]):
      writes.append(f"{event} {args[0]}")

  sys.addaudithook(hook)
  return writes


def main(workdir: str, *process_args: str) -> None:
  coordinator_address, num_processes, process_id = process_args or (None, None, None)
  distributed.initialize(coordinator_address, num_processes and int(num_processes),
                         process_id and int(process_id))
  # Imported after `initialize`, which must come before any JAX computation.
  import jax  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
  from bihm_jax import evaluation, sampling, training  # pylint: disable=import-outside-toplevel
  from experiments.configs import synthetic  # pylint: disable=import-outside-toplevel
  from tests import helpers  # pylint: disable=import-outside-toplevel

  writes = record_writes(workdir)
  config = synthetic.get_config()
  config.update(CONFIG_OVERRIDES)
  summary = training.train_and_evaluate(config, workdir)

  mesh = distributed.data_mesh()
  params = helpers.random_params(0, tuple(config.layer_sizes))
  report, _ = evaluation.evaluate(params, jax.random.PRNGKey(1), training.load_split(config, "test"),
                                  EVAL_KS, Z_SAMPLES, batch_size=config.eval_batch_size, mesh=mesh)
  chains = distributed.shard_outputs(
      functools.partial(sampling.chains_from_p, num_chains=NUM_CHAINS, inner_k=2), mesh)(
          params, jax.random.PRNGKey(2))
  chains = sampling.run_chains(params, jax.random.PRNGKey(3), chains, 3, 4, 2)
  chains = multihost_utils.process_allgather(chains, tiled=True)
  print(json.dumps({
      "process_index": jax.process_index(), "device_count": jax.device_count(), "summary": summary,
      "evaluation": report, "chain_states": [s.tolist() for s in chains.states],
      "chain_log_ptilde": chains.log_ptilde.tolist(), "writes": writes}))


if __name__ == "__main__":
  main(*sys.argv[1:])
