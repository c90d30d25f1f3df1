"""UCI web (300 binary variables): a BiHM with latent layers 200-100-50-25-10, bottom to top.

Architecture: `default.UCI_LATENT_LAYERS["medium"]`, the shared starting choice for 150 to 499
variables; not yet tuned on this data set's validation split.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.base_config("web", (300,) + default.UCI_LATENT_LAYERS["medium"])
