"""Binarized MNIST with the paper's 12-layer BiHM (reference section 5): 784 visible units and
300-200-100-75-50-35-30-25-20-15-10-10 latent units, K = 10, batches of 100, Adam 1e-3, early
stopping after 10 epochs without a better validation bound."""

import ml_collections

from experiments.configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.base_config("binarized_mnist",
                             (784, 300, 200, 100, 75, 50, 35, 30, 25, 20, 15, 10, 10))
