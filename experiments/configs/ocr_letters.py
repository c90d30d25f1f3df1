"""UCI ocr_letters (128 binary variables): a BiHM with latent layers 100-50-25-10, bottom to top.

Architecture: `default.UCI_LATENT_LAYERS["small"]`, the rule for this number of variables, as
the only candidate, so that the RWS row's command keeps meaning what it ran. Larger ones
validate far better on this data set: the RWS row's command adds the "medium" one
(200-100-50-25-10) and the BiHM row's trains the "large" one (300-200-100-50-25-10) with
`--config.latent_candidates` (README); at 4 to 8 s per epoch on a CPU every candidate costs
hours. Validation runs every 5 epochs, since one validation pass costs about as
much as a training epoch; patience 50 epochs is the original 10 validations.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.base_config("ocr_letters", (128,) + default.UCI_LATENT_LAYERS["small"])
  config.valid_every_epochs = 5
  config.patience = 50
  return config
