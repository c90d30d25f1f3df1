"""UCI web (300 binary variables): a BiHM with latent layers 200-100-50-25-10, bottom to top.

Architecture: the starting choice shared by the UCI configs, not tuned on this data set's
validation split: latent layers that roughly halve in width down to 10, 100-50-25-10 below
150 variables, 200-100-50-25-10 from 150, 300-200-100-50-25-10 for the 500-variable nips.
Deep like the paper's models, small enough for the few thousand training examples of most UCI
sets; early stopping on the validation bound guards against overfitting.
"""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.base_config("web", (300, 200, 100, 50, 25, 10))
