"""Factorial Bernoulli layers, kept in logits throughout (reference section 6)."""

import jax
import jax.numpy as jnp


def log_prob(logits: jax.Array, bits: jax.Array) -> jax.Array:
  """log prod_i Bernoulli(bits_i; sigmoid(logits_i)), summed over the last axis.

  Computed as `bits * logits - softplus(logits)`: exact for any finite logit,
  no clipping, finite value and gradient at logits of +-100 and beyond.

  Args:
    logits: (..., n) float.
    bits: (..., n) in {0, 1}, any float dtype.

  Returns:
    (...,) log-probabilities.
  """
  return jnp.sum(bits * logits - jax.nn.softplus(logits), axis=-1)


def sample(key: jax.Array, logits: jax.Array) -> jax.Array:
  """Draws bits ~ Bernoulli(sigmoid(logits)) as float32 0/1 (no gradient flows).

  Args:
    key: a PRNG key.
    logits: (..., n) float.

  Returns:
    (..., n) float32 array of 0s and 1s.
  """
  return jax.random.bernoulli(key, jax.nn.sigmoid(logits)).astype(jnp.float32)
