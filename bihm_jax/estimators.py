"""Importance-sampling estimators of the bound, of log p(x) and of Z^2 (reference section 3).

All estimators draw sample j of data point b from the key `fold_in(split(key, B)[b], j)`,
so their values do not depend on how the K samples are chunked; chunks bound memory at
about `max_chunk_elements` samples in flight (K = 10^5 on MNIST-sized models is fine).
"""

import functools
import math

import jax
import jax.numpy as jnp

from bihm_jax import model

Params = model.Params

# Samples of one chunk in flight (data points x samples); ~20 kB each on the MNIST model.
MAX_CHUNK_ELEMENTS = 16384


def sample_keys(key: jax.Array, first: int | jax.Array, count: int) -> jax.Array:
  """Keys of samples `first, ..., first + count - 1` drawn under `key`: (count,) keys."""
  return jax.vmap(jax.random.fold_in, (None, 0))(key, first + jnp.arange(count))


def importance_log_weights(params: Params, keys: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Draws h^(k) ~ q(h | x), one per key, and scores them under both models.

  Args:
    params: BiHM parameters.
    keys: (K,) PRNG keys.
    x: (D,) one data vector.

  Returns:
    `(log_p, log_q)`, each (K,): log p(x, h^(k)) and log q(h^(k) | x). Differentiable in
    the parameters with the samples held fixed.
  """

  def one(key):
    hs, log_q = model.sample_q_and_log_q(params, key, x)
    return model.log_p(params, x, hs), log_q

  return jax.vmap(one)(keys)


def log_ptilde_estimate(params: Params, key: jax.Array, x: jax.Array, k: int) -> jax.Array:
  """log of the unbiased estimate (1/K) sum_k sqrt(p(x, h^(k)) / q(h^(k) | x)) of p~*(x).

  Args:
    params: BiHM parameters.
    key: PRNG key of the K samples h^(k) ~ q(h | x).
    x: (D,) data vector.
    k: number of samples.

  Returns:
    () the log-estimate.
  """
  log_p, log_q = importance_log_weights(params, sample_keys(key, 0, k), x)
  return jax.nn.logsumexp((log_p - log_q) / 2.0) - math.log(k)


def _chunking(k: int, batch: int, chunk_size: int | None, ks: tuple[int, ...] = ()) -> tuple[int, int]:
  """(samples per chunk, number of chunks) for K samples of each of `batch` points; `ks`: further
  sample counts that must be valid too."""
  for count in (k, *ks):
    if count < 1:
      raise ValueError(f"the number of samples k must be >= 1, got {count}")
  if chunk_size is None:
    chunk_size = max(1, MAX_CHUNK_ELEMENTS // max(batch, 1))
  chunk = min(k, chunk_size)
  return chunk, -(-k // chunk)


def _chunked_logsumexps(per_chunk, ks: tuple[int, ...], chunk: int, num_chunks: int):
  """logsumexp over samples 0..K-1 of s and of 2 s, for every K in `ks`, `chunk` samples at a time.

  Args:
    per_chunk: maps the first sample id of a chunk to the (..., chunk) log-terms s of
      samples `first, ..., first + chunk - 1`.
    ks: the sample counts K (static), each at most `chunk * num_chunks`.
    chunk, num_chunks: the samples, chunked as `num_chunks` x `chunk`.

  Returns:
    `(lse_s, lse_2s)`, each of shape (..., len(ks)).
  """
  counts = jnp.asarray(ks)[:, None]

  def body(_, first):
    s = per_chunk(first)[..., None, :]
    s = jnp.where(first + jnp.arange(chunk) < counts, s, -jnp.inf)  # (..., len(ks), chunk)
    return None, (jax.nn.logsumexp(s, axis=-1), jax.nn.logsumexp(2.0 * s, axis=-1))

  if num_chunks == 1:
    return body(None, 0)[1]
  _, (lse_s, lse_2s) = jax.lax.scan(body, None, chunk * jnp.arange(num_chunks))
  return jax.nn.logsumexp(lse_s, axis=0), jax.nn.logsumexp(lse_2s, axis=0)


@functools.partial(jax.jit, static_argnames=("ks", "chunk_size"))
def log_likelihood_curves(params: Params, key: jax.Array, x: jax.Array, ks: tuple[int, ...],
                          chunk_size: int | None = None) -> tuple[jax.Array, jax.Array]:
  """`log_likelihood_estimates` at every K in `ks`, from one pass over max(ks) samples.

  The value at K uses samples 0..K-1, the samples `log_likelihood_estimates(..., k=K)` draws,
  so it equals that call up to the order of float sums, and the estimates are nested in K.

  Args:
    params: BiHM parameters.
    key: PRNG key.
    x: (B, D) data.
    ks: sample counts K (static), each >= 1.
    chunk_size: samples per data point per chunk (static); default bounds memory.

  Returns:
    `(bound, log_px)`, each (B, len(ks)).
  """
  if not ks:
    raise ValueError("ks must name at least one sample count")
  chunk, num_chunks = _chunking(max(ks), x.shape[0], chunk_size, ks)
  data_keys = jax.random.split(key, x.shape[0])

  def per_chunk(first):
    def one(key_b, x_b):
      log_p, log_q = importance_log_weights(params, sample_keys(key_b, first, chunk), x_b)
      return (log_p - log_q) / 2.0
    return jax.vmap(one)(data_keys, x)

  lse_a, lse_2a = _chunked_logsumexps(per_chunk, ks, chunk, num_chunks)
  log_ks = jnp.asarray([math.log(k) for k in ks], jnp.float32)
  return 2.0 * (lse_a - log_ks), lse_2a - log_ks


@functools.partial(jax.jit, static_argnames=("k", "chunk_size"))
def log_likelihood_estimates(params: Params, key: jax.Array, x: jax.Array, k: int,
                             chunk_size: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Both K-sample estimates from one set of samples h^(k) ~ q(h | x).

  With a_k = (log p(x, h^(k)) - log q(h^(k) | x)) / 2:
    bound  = 2 (logsumexp_k a_k - log K)      estimates 2 log p~*(x) <= log p*(x)
    log_px = logsumexp_k 2 a_k - log K        estimates log p(x) of the top-down model

  Args:
    params: BiHM parameters.
    key: PRNG key.
    x: (B, D) data.
    k: samples per data point (static).
    chunk_size: samples per data point per chunk (static); default bounds memory.

  Returns:
    `(bound, log_px)`, each (B,).
  """
  bound, log_px = log_likelihood_curves(params, key, x, (k,), chunk_size)
  return bound[:, 0], log_px[:, 0]


def log_ptilde_bound(params: Params, key: jax.Array, x: jax.Array, k: int,
                     chunk_size: int | None = None) -> jax.Array:
  """(B,) estimates of 2 log p~*(x) from K importance samples (see `log_likelihood_estimates`)."""
  return log_likelihood_estimates(params, key, x, k, chunk_size)[0]


def log_px_is(params: Params, key: jax.Array, x: jax.Array, k: int,
              chunk_size: int | None = None) -> jax.Array:
  """(B,) importance-sampled estimates of log p(x) with proposal q (see `log_likelihood_estimates`)."""
  return log_likelihood_estimates(params, key, x, k, chunk_size)[1]


def _log_z2_term(params: Params, key: jax.Array, inner_k: int) -> jax.Array:
  """One unbiased term of Z^2 in log space: (x, h) ~ p, h'^(j) ~ q(h | x), j = 1..inner_k,

  s = (log q(h|x) - log p(x,h)) / 2 + log( (1/J) sum_j sqrt(p(x,h'^(j)) / q(h'^(j)|x)) ).

  E[exp(s)] = sum_x sum_h p(x,h) sqrt(q(h|x)/p(x,h)) p~*(x) = sum_x p~*(x)^2 = Z^2.
  """
  outer_key, inner_key = jax.random.split(key)
  x, hs, log_p_outer = model.sample_p_and_log_p(params, outer_key)
  log_ratio = (model.log_q(params, x, hs) - log_p_outer) / 2.0
  return log_ratio + log_ptilde_estimate(params, inner_key, x, inner_k)


@functools.partial(jax.jit, static_argnames=("num_samples", "inner_k", "chunk_size", "sample_sharding"))
def estimate_log_z2(params: Params, key: jax.Array, num_samples: int, inner_k: int = 1,
                    chunk_size: int | None = None,
                    sample_sharding: jax.sharding.Sharding | None = None) -> tuple[jax.Array, jax.Array]:
  """Unbiased estimate of Z^2 = sum_x p~*(x)^2, returned in log space.

  Args:
    params: BiHM parameters.
    key: PRNG key.
    num_samples: outer samples (x, h) ~ p (static).
    inner_k: samples h' ~ q(h | x) per outer sample (static).
    chunk_size: outer samples per chunk (static); default bounds memory.
    sample_sharding: how to lay out each chunk's samples over devices (static), e.g. split
      along a data mesh (`distributed.estimate_log_z2`); None: the compiler's choice.

  Returns:
    `(log_z2, stderr)`: the log of the sample mean of the unbiased terms, and its standard
    error by the delta method, sd(terms) / (sqrt(N) mean(terms)).
  """
  if inner_k < 1:
    raise ValueError(f"inner_k must be >= 1, got {inner_k}")
  chunk, num_chunks = _chunking(num_samples, inner_k, chunk_size)

  def per_chunk(first):
    keys = sample_keys(key, first, chunk)
    if sample_sharding is not None:
      keys = jax.lax.with_sharding_constraint(keys, sample_sharding)
    return jax.vmap(lambda k: _log_z2_term(params, k, inner_k))(keys)

  lse_s, lse_2s = _chunked_logsumexps(per_chunk, (num_samples,), chunk, num_chunks)
  log_n = math.log(num_samples)
  log_mean, log_mean_sq = lse_s[0] - log_n, lse_2s[0] - log_n
  # Var(terms) / mean^2 = E[t^2] / E[t]^2 - 1, with the unbiased (N - 1) normalisation.
  relative_var = jnp.maximum(jnp.expm1(log_mean_sq - 2.0 * log_mean), 0.0)
  stderr = jnp.sqrt(relative_var / max(num_samples - 1, 1))
  return log_mean, stderr
