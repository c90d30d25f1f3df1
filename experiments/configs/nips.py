"""UCI nips (500 binary variables): a BiHM with latent layers 300-200-100-50-25-10, bottom to top.

Architecture: `default.UCI_LATENT_LAYERS["large"]`, the shared starting choice for 500 or more
variables; not yet tuned on this data set's validation split.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.base_config("nips", (500,) + default.UCI_LATENT_LAYERS["large"])
