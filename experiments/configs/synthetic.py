"""A tiny BiHM (8 visible, 5 and 3 latent units) on data drawn from a random SBN of the same
shape: seconds per run on a CPU, small enough for `bihm_jax.exact`. For smoke runs and tests."""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.base_config("synthetic", (8, 5, 3))
  config.dataset_options = ml_collections.ConfigDict({"layer_sizes": (8, 5, 3), "seed": 0})
  config.batch_size = 20
  config.learning_rate = 1e-2
  config.num_epochs = 20
  config.eval_ks = (1, 10, 100, 1000)
  config.z_samples = 100_000
  return config
