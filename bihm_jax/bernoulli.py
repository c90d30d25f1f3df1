"""Factorial Bernoulli layers, kept in logits throughout (reference section 6).

Both the probability sigmoid(l) and the log-normaliser softplus(l) = log(1 + e^l) come from one
e = exp(-|l|) per unit:

  sigmoid(l)  = (1 if l >= 0 else e) / (1 + e)
  softplus(l) = max(l, 0) + log1p(e)

exact for any finite logit (no clipping; finite values and gradients at +-100 and beyond), and
one transcendental pair per unit instead of the three that `jax.nn.sigmoid` plus
`jax.nn.softplus` and its derivative cost. Autodiff of this form reuses e in the backward pass.
Both |l| and max(l, 0) take the l >= 0 branch at l = 0, so that autodiff gives the gradient
bits - sigmoid(l) there too (`jnp.maximum` splits the tie in half and `jnp.abs` does not, which
would give bits instead of bits - 1/2).
"""

import jax
import jax.numpy as jnp


def _exp_minus_abs(logits: jax.Array) -> jax.Array:
  """e = exp(-|l|), with |l| = l on the branch l >= 0."""
  return jnp.exp(-jnp.where(logits >= 0, logits, -logits))


def _log_prob(logits: jax.Array, bits: jax.Array, e: jax.Array) -> jax.Array:
  return jnp.sum(bits * logits - jnp.where(logits >= 0, logits, 0.0) - jnp.log1p(e), axis=-1)


def _sigmoid(logits: jax.Array, e: jax.Array) -> jax.Array:
  return jnp.where(logits >= 0, 1.0, e) / (1.0 + e)


def _below_sigmoid(uniform: jax.Array, logits: jax.Array, e: jax.Array) -> jax.Array:
  return (uniform < _sigmoid(logits, e)).astype(jnp.float32)


def log_prob(logits: jax.Array, bits: jax.Array) -> jax.Array:
  """log prod_i Bernoulli(bits_i; sigmoid(logits_i)), summed over the last axis.

  Args:
    logits: (..., n) float.
    bits: (..., n) in {0, 1}, any float dtype.

  Returns:
    (...,) log-probabilities.
  """
  return _log_prob(logits, bits, _exp_minus_abs(logits))


def sample(key: jax.Array, logits: jax.Array) -> jax.Array:
  """Draws bits ~ Bernoulli(sigmoid(logits)) as float32 0/1 (no gradient flows).

  Args:
    key: a PRNG key.
    logits: (..., n) float.

  Returns:
    (..., n) float32 array of 0s and 1s.
  """
  return _below_sigmoid(jax.random.uniform(key, logits.shape), logits, _exp_minus_abs(logits))


def sample_and_log_prob(uniform: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(bits, log_prob(logits, bits))` with bits = [uniform < sigmoid(logits)], sharing the work.

  Taking the uniforms rather than a key lets a caller draw those of many layers in one call
  to the generator (one vectorised threefry pass instead of one small pass per layer).

  Args:
    uniform: (..., n) draws from U[0, 1), independent of everything else.
    logits: (..., n) float.

  Returns:
    (..., n) float32 0/1 bits ~ Bernoulli(sigmoid(logits)) (no gradient) and their (...,)
    log-probability, differentiable in `logits`.
  """
  e = _exp_minus_abs(logits)
  bits = _below_sigmoid(uniform, logits, e)
  return bits, _log_prob(logits, bits, e)
