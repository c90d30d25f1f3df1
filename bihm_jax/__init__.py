"""bihm_jax: Bidirectional Helmholtz Machines (Bornschein et al., ICML 2016) in JAX.

Single-example model functions (vmap them over samples and data):
  init_params, sample_q, sample_p, log_p, log_q
Batched, jit-compiled estimators over x of shape (B, D):
  log_ptilde_bound, log_px_is, log_likelihood_estimates, log_likelihood_curves, estimate_log_z2
Training surrogates (loss, metrics):
  bihm_loss, rws_loss
Ground truth by enumeration for tiny models:
  bihm_jax.exact
Samplers of p* (Gibbs with importance resampling, inpainting) and image grids:
  bihm_jax.sampling, bihm_jax.images
Data, training, evaluation, several devices:
  bihm_jax.data, bihm_jax.training, bihm_jax.evaluation, bihm_jax.distributed
Polyak averaging of the parameters in the optimizer:
  bihm_jax.averaging
"""

from bihm_jax import averaging, exact, images, sampling
from bihm_jax.estimators import (estimate_log_z2, log_likelihood_curves, log_likelihood_estimates,
                                 log_ptilde_bound, log_px_is)
from bihm_jax.model import init_params, layer_sizes_of, log_p, log_q, sample_p, sample_q
from bihm_jax.objectives import bihm_loss, rws_loss

__version__ = "0.1.0"

__all__ = [
    "averaging",
    "bihm_loss",
    "estimate_log_z2",
    "exact",
    "images",
    "init_params",
    "layer_sizes_of",
    "log_likelihood_curves",
    "log_likelihood_estimates",
    "log_p",
    "log_ptilde_bound",
    "log_px_is",
    "log_q",
    "rws_loss",
    "sample_p",
    "sample_q",
    "sampling",
]
