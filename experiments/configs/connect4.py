"""UCI connect4 (126 binary variables): a BiHM with latent layers 100-50-25-10, bottom to top.

Architecture: `default.UCI_LATENT_LAYERS["small"]`, the rule for this number of variables (the
only candidate: with 16,000 training examples a search over architectures costs more than
a CPU session has). Validation runs every 5 epochs, since one validation pass costs about as
much as a training epoch; patience 50 epochs is the original 10 validations.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.base_config("connect4", (126,) + default.UCI_LATENT_LAYERS["small"])
  config.valid_every_epochs = 5
  config.patience = 50
  return config
