"""Trains a BiHM (or its RWS baseline) as a config describes; rerun with the same workdir to resume.

  python -m experiments.train --config=experiments/configs/mnist.py --workdir=/tmp/bihm_mnist \
      [--config.method=rws] [--config.seed=1] ...

The work happens in `bihm_jax.training.train_and_evaluate`, which a notebook can call too. It
runs over all visible devices; for several processes start one per host with
`--coordinator_address=HOST:PORT --num_processes=N --process_id=I` (or `--distributed` where
JAX reads them from Slurm, Open MPI or a Cloud TPU) and the same shared workdir.
"""

from absl import app, flags
from ml_collections import config_flags

from bihm_jax import training
from experiments import distributed_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder of checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  distributed_flags.initialize()
  training.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
