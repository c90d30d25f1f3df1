"""UCI nips (500 binary variables): a BiHM with latent layers 300-200-100-50-25-10, bottom to top.

Architecture: chosen on the validation split by `experiments.reproduce` among the three of
`default.UCI_LATENT_LAYERS` (small training set: every candidate is cheap); `layer_sizes`
starts from the "large" one, the rule for this number of variables.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.base_config("nips", (500,) + default.UCI_LATENT_LAYERS["large"])
  config.latent_candidates = tuple(default.UCI_LATENT_LAYERS.values())
  return config
