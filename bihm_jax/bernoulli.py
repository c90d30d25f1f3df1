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

Sampling compares a uniform with the probability of the *rarer* value, sigmoid(-|l|) = e / (1 + e),
using uniforms on (0, 1] with a resolution of 2^-32 (`uniform`). A rare value of probability s is
then drawn with probability floor(s 2^32) / 2^32 <= s: never more often than the model says, however
small s is (a unit with s < 2^-32, |l| > 22, is deterministic: the mass lost is below 2^-32 per
unit). The textbook `U[0, 1) < sigmoid(l)` with float32 uniforms instead draws every value of
probability 0 < s < 2^-23 (-103 < l < -16) with probability 2^-23, up to 10^30 times too often,
and importance weights that use the model's log-probabilities explode on those draws.
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


def _draw(uniform: jax.Array, logits: jax.Array, e: jax.Array) -> jax.Array:
  """Bits with P(1) = sigmoid(l): the rarer value (1 if l < 0, 0 if l >= 0) when uniform <= e / (1 + e)."""
  rare = uniform <= e / (1.0 + e)
  return jnp.where(logits >= 0, ~rare, rare).astype(jnp.float32)


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Draws from U(0, 1] on the grid 2^-32, 2 * 2^-32, ..., 1 (float32; exact below 2^-8).

  Args:
    key: a PRNG key.
    shape: the output shape.

  Returns:
    float32 array of `shape`, (r + 1) 2^-32 for r uniform on the 32-bit integers.
  """
  return (jax.random.bits(key, shape, jnp.uint32).astype(jnp.float32) + 1.0) * 2.0**-32


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
  return _draw(uniform(key, logits.shape), logits, _exp_minus_abs(logits))


def sample_and_log_prob(uniforms: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(bits, log_prob(logits, bits))` for bits ~ Bernoulli(sigmoid(logits)), sharing the work.

  Taking the uniforms rather than a key lets a caller draw those of many layers in one call
  to the generator (one vectorised threefry pass instead of one small pass per layer).

  Args:
    uniforms: (..., n) draws of `uniform`, independent of everything else.
    logits: (..., n) float.

  Returns:
    (..., n) float32 0/1 bits ~ Bernoulli(sigmoid(logits)) (no gradient) and their (...,)
    log-probability, differentiable in `logits`.
  """
  e = _exp_minus_abs(logits)
  bits = _draw(uniforms, logits, e)
  return bits, _log_prob(logits, bits, e)
