"""UCI rcv1 (150 binary variables): a BiHM with latent layers 200-100-50-25-10, bottom to top.

Architecture: `default.UCI_LATENT_LAYERS["medium"]`, the rule for this number of variables; the
data set is not in the shared data, so nothing was tuned on it.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.base_config("rcv1", (150,) + default.UCI_LATENT_LAYERS["medium"])
