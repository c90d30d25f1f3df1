"""UCI adult (123 binary variables): a BiHM with latent layers 100-50-25-10, bottom to top.

Architecture: `default.UCI_LATENT_LAYERS["small"]`, the shared starting choice for fewer than 150
variables; not yet tuned on this data set's validation split.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.base_config("adult", (123,) + default.UCI_LATENT_LAYERS["small"])
