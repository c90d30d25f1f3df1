"""Exact quantities by enumeration, for models with D + sum_l n_l <= MAX_ENUMERATED_BITS.

These are the ground truth that every estimator and sampler is tested against. Everything is
differentiable, so the gradients of exact objectives come from `jax.grad`.

Functions taking `x` accept any batch shape `(..., D)` and return `(...)`.
"""

import jax
import jax.numpy as jnp

from bihm_jax import model

Params = model.Params

MAX_ENUMERATED_BITS = 22


def all_binary(n: int) -> jax.Array:
  """All 2^n binary vectors as a (2^n, n) float32 array; row i holds the bits of i, MSB first."""
  return ((jnp.arange(2**n)[:, None] >> jnp.arange(n - 1, -1, -1)) & 1).astype(jnp.float32)


def split_latents(h: jax.Array, params: Params) -> model.Latents:
  """Cuts a flat (..., sum n_l) vector of latent bits into `(h_1, ..., h_L)`."""
  sizes = model.layer_sizes_of(params)[1:]
  bounds = [sum(sizes[:l]) for l in range(1, len(sizes))]
  return tuple(jnp.split(h, bounds, axis=-1))


def _all_latents(params: Params) -> model.Latents:
  sizes = model.layer_sizes_of(params)
  if sum(sizes) > MAX_ENUMERATED_BITS:
    raise ValueError(f"a model with layer sizes {sizes} has {sum(sizes)} binary units; exact "
                     f"enumeration is limited to {MAX_ENUMERATED_BITS}")
  return split_latents(all_binary(sum(sizes[1:])), params)


def _batched(fn):
  """Lifts `fn(params, x)` for one x of shape (D,) to any batch shape (..., D)."""

  def wrapped(params: Params, x: jax.Array) -> jax.Array:
    return jnp.vectorize(lambda row: fn(params, row), signature="(d)->()")(x)

  wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
  return wrapped


def log_joints(params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """log p(x, h) and log q(h | x) for every h, in the order of `all_binary(H)`, H = sum n_l.

  Args:
    params: BiHM parameters.
    x: (D,) one data vector.

  Returns:
    Two (2^H,) arrays.
  """
  hs = _all_latents(params)
  return (jax.vmap(model.log_p, (None, None, 0))(params, x, hs),
          jax.vmap(model.log_q, (None, None, 0))(params, x, hs))


@_batched
def log_p_marginal(params: Params, x: jax.Array) -> jax.Array:
  """log p(x) = log sum_h p(x, h), the top-down model's marginal likelihood."""
  return jax.nn.logsumexp(log_joints(params, x)[0])


@_batched
def log_ptilde(params: Params, x: jax.Array) -> jax.Array:
  """log p~*(x) = log sum_h sqrt(p(x, h) q(h | x)); 2 log p~*(x) is the BiHM bound."""
  log_p, log_q = log_joints(params, x)
  return jax.nn.logsumexp((log_p + log_q) / 2.0)


def log_z2(params: Params) -> jax.Array:
  """log Z^2 = log sum_x p~*(x)^2 over all 2^D binary x (a scalar, <= 0)."""
  num_visible = model.layer_sizes_of(params)[0]
  _all_latents(params)  # Size check before the enumeration starts.
  xs = all_binary(num_visible)
  log_pt = jax.lax.map(lambda x: log_ptilde(params, x), xs, batch_size=min(len(xs), 256))
  return jax.nn.logsumexp(2.0 * log_pt)


def log_pstar(params: Params, x: jax.Array) -> jax.Array:
  """log p*(x) = 2 log p~*(x) - log Z^2, the BiHM model's normalised log-likelihood."""
  return 2.0 * log_ptilde(params, x) - log_z2(params)


def grad_mean_bound(params: Params, x: jax.Array) -> Params:
  """Exact gradient of mean_x 2 log p~*(x) over a (B, D) batch, as a parameter pytree."""
  return jax.grad(lambda p: jnp.mean(2.0 * log_ptilde(p, x)))(params)


def grad_mean_log_p_marginal(params: Params, x: jax.Array) -> Params:
  """Exact gradient of mean_x log p(x) over a (B, D) batch, as a parameter pytree."""
  return jax.grad(lambda p: jnp.mean(log_p_marginal(p, x)))(params)
