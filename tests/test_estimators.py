"""Importance-sampling estimators against exact enumeration (reference section 3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bihm_jax as bh
from bihm_jax import exact
from tests import helpers

REPEATS = 20_000


@pytest.fixture(scope="module")
def model():
  """p and q differ (D_B of 0.30 to 0.38 nats at these x) yet the p/q weights have relative
  variance of 4.1 to 5.1, so that K = 10^6 pins log p(x) down to 4 x 0.0023 nats."""
  params = helpers.random_params(21, (6, 4, 3), scale=1.0)
  x = exact.all_binary(6)[jnp.array([44, 12, 36, 40])]
  return params, x


def _repeat(fn, seed, repeats=REPEATS):
  """fn(key) for `repeats` independent keys, stacked on a leading axis (as float64 NumPy)."""
  return np.asarray(jax.vmap(fn)(jax.random.split(jax.random.PRNGKey(seed), repeats)), np.float64)


@pytest.mark.parametrize("k", [1, 5])
def test_ptilde_estimator_is_unbiased(model, k):
  """exp(bound / 2) = (1/K) sum_k sqrt(p/q) is unbiased for p~*(x); its log is not."""
  params, x = model
  bounds = _repeat(lambda key: bh.log_ptilde_bound(params, key, x, k), seed=k)
  exact_pt = np.exp(np.asarray(exact.log_ptilde(params, x), np.float64))
  relvar, _ = helpers.importance_relative_variances(params, x)
  for b in range(len(x)):
    helpers.assert_mean_matches(np.exp(bounds[:, b] / 2), exact_pt[b], f"p~* estimate, x #{b}, K={k}",
                                sd=exact_pt[b] * np.sqrt(relvar[b] / k))
  # Power check: the log of the estimator is biased low (Jensen), by many standard errors.
  log_estimates = bounds / 2
  gap = np.log(exact_pt) - log_estimates.mean(axis=0)
  assert np.all(gap > helpers.Z_SCORE * log_estimates.std(axis=0) / np.sqrt(REPEATS))


@pytest.mark.parametrize("k", [1, 5])
def test_px_estimator_is_unbiased(model, k):
  params, x = model
  log_px = _repeat(lambda key: bh.log_px_is(params, key, x, k), seed=10 + k)
  exact_px = np.exp(np.asarray(exact.log_p_marginal(params, x), np.float64))
  _, relvar = helpers.importance_relative_variances(params, x)
  for b in range(len(x)):
    helpers.assert_mean_matches(np.exp(log_px[:, b]), exact_px[b], f"p(x) estimate, x #{b}, K={k}",
                                sd=exact_px[b] * np.sqrt(relvar[b] / k))


def test_large_k_estimates_are_within_a_hundredth_of_a_nat(model):
  params, x = model
  k = 10**6
  relvar_pt, relvar_px = helpers.importance_relative_variances(params, x)
  # The test is meaningful: at this K, 4 standard errors are inside 0.01 nats.
  assert np.all(helpers.Z_SCORE * np.sqrt(np.maximum(4 * relvar_pt, relvar_px) / k) < 0.01)
  bound, log_px = bh.log_likelihood_estimates(params, jax.random.PRNGKey(0), x, k)
  print("K=10^6 errors, bound:", bound - 2 * exact.log_ptilde(params, x), "log p:", log_px - exact.log_p_marginal(params, x))
  np.testing.assert_allclose(bound, 2 * exact.log_ptilde(params, x), atol=0.01, rtol=0)
  np.testing.assert_allclose(log_px, exact.log_p_marginal(params, x), atol=0.01, rtol=0)
  # The estimates are not exact by construction: small K is visibly worse than large K.
  small_k = bh.log_ptilde_bound(params, jax.random.PRNGKey(0), x, 2)
  assert np.max(np.abs(small_k - 2 * exact.log_ptilde(params, x))) > 0.05


def test_chunking_does_not_change_estimates(model):
  params, x = model
  key = jax.random.PRNGKey(3)
  whole = bh.log_likelihood_estimates(params, key, x, 100)
  for chunk_size in (7, 25, 100):   # 7 does not divide 100: the last chunk is masked
    chunked = bh.log_likelihood_estimates(params, key, x, 100, chunk_size=chunk_size)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)
  # Sample j of a data point is the same sample whatever K is: K=101 adds one sample.
  more = bh.log_likelihood_estimates(params, key, x, 101, chunk_size=7)
  assert not np.allclose(more[0], whole[0])


def test_curves_equal_separate_estimates_at_each_k(model):
  params, x = model
  key = jax.random.PRNGKey(4)
  ks = (1, 3, 7, 8, 50, 101)   # inside, at the end of, and across chunks of 7
  bounds, log_pxs = bh.log_likelihood_curves(params, key, x, ks, chunk_size=7)
  assert bounds.shape == log_pxs.shape == (x.shape[0], len(ks))
  for i, k in enumerate(ks):
    bound, log_px = bh.log_likelihood_estimates(params, key, x, k)
    np.testing.assert_allclose(bounds[:, i], bound, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_pxs[:, i], log_px, rtol=1e-6, atol=1e-6)
  # The control: the curve changes with K, so equality above is not a constant.
  assert np.all(np.ptp(bounds, axis=1) > 1e-3)
  with pytest.raises(ValueError, match="k must be >= 1, got 0"):
    bh.log_likelihood_curves(params, key, x, (5, 0))


def _z2_term_variance(params, inner_k):
  """Var of one Z^2 term: E[t^2] = sum_x E[p~*_K(x)^2] = Z^2 + (1 - Z^2) / K, minus Z^4."""
  z2 = float(np.exp(exact.log_z2(params)))
  return z2 + (1 - z2) / inner_k - z2**2


@pytest.mark.parametrize("inner_k", [1, 3])
def test_z2_estimator_is_unbiased(model, inner_k):
  params, _ = model
  log_terms = _repeat(lambda key: bh.estimate_log_z2(params, key, 1, inner_k)[0], seed=20 + inner_k)
  helpers.assert_mean_matches(np.exp(log_terms), float(np.exp(exact.log_z2(params))), f"Z^2, inner_k={inner_k}",
                              sd=np.sqrt(_z2_term_variance(params, inner_k)))


def test_z2_term_variance_formula(model):
  params, _ = model
  z2 = float(np.exp(exact.log_z2(params)))
  np.testing.assert_allclose(helpers.z2_term_moment(params, 1), z2, rtol=1e-5)
  np.testing.assert_allclose(helpers.z2_term_moment(params, 2) - z2**2, _z2_term_variance(params, 1), rtol=1e-5)


def test_log_z2_and_its_stderr_with_many_samples(model):
  params, _ = model
  n = 2 * 10**6   # Var(t) = 1 - Z^4 here: 10^6 samples would put 4 stderr at 0.01003 nats
  log_z2, stderr = bh.estimate_log_z2(params, jax.random.PRNGKey(4), n)
  z2 = float(np.exp(exact.log_z2(params)))
  variance = _z2_term_variance(params, 1)
  exact_stderr = np.sqrt(variance / n) / z2
  print(f"log Z^2, N={n}: {log_z2:.5f} +- {stderr:.5f} (exact {np.log(z2):.5f}, exact stderr {exact_stderr:.5f})")
  assert abs(log_z2 - np.log(z2)) < helpers.Z_SCORE * exact_stderr < 0.01
  # The reported stderr, sd_hat / (sqrt(N) mean_hat), is itself an estimate: its relative error
  # has variance (kurtosis - 1) / (4 N) from sd_hat plus Var(t) / (N Z^4) from mean_hat.
  m2, m3, m4 = (helpers.z2_term_moment(params, r) for r in (2, 3, 4))
  central_m4 = m4 - 4 * m3 * z2 + 6 * m2 * z2**2 - 3 * z2**4
  relative_sd = np.sqrt((central_m4 / variance**2 - 1) / (4 * n) + variance / (n * z2**2))
  assert abs(stderr / exact_stderr - 1) < helpers.Z_SCORE * relative_sd, (stderr, exact_stderr, relative_sd)


def test_log_z2_stderr_matches_spread_across_runs(model):
  """The delta-method standard error agrees with the spread of independent estimates.

  The sample SD of R estimates has relative standard error sqrt((kurtosis - 1) / (4 R)).
  """
  params, _ = model
  repeats, n = 400, 1000
  runs = _repeat(lambda key: jnp.stack(bh.estimate_log_z2(params, key, n)), seed=5, repeats=repeats)
  estimates, stderrs = runs[:, 0], runs[:, 1]
  spread = estimates.std(ddof=1)
  centred = estimates - estimates.mean()
  kurtosis = np.mean(centred**4) / np.mean(centred**2) ** 2
  tolerance = helpers.Z_SCORE * np.sqrt((kurtosis - 1) / (4 * repeats))
  assert abs(stderrs.mean() / spread - 1) < tolerance, (stderrs.mean(), spread, tolerance)


def test_estimators_compile_once_per_shape(model):
  params, x = model
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  other_x = 1.0 - x
  other_params = jax.tree.map(lambda a: a * 0.5, params)
  bh.log_likelihood_estimates(params, keys[0], x, 10)
  bh.estimate_log_z2(params, keys[0], 100)
  with helpers.count_traces() as traces:
    bh.log_likelihood_estimates(other_params, keys[1], other_x, 10)
    bh.estimate_log_z2(other_params, keys[2], 100)
  assert traces.value == 0
  with helpers.count_traces() as traces:   # the counter can see a retrace: a new static K
    bh.log_likelihood_estimates(params, keys[1], x, 11)
  assert traces.value > 0


def test_invalid_sample_counts(model):
  params, x = model
  with pytest.raises(ValueError, match="k must be >= 1, got 0"):
    bh.log_ptilde_bound(params, jax.random.PRNGKey(0), x, 0)
  with pytest.raises(ValueError, match="inner_k must be >= 1, got 0"):
    bh.estimate_log_z2(params, jax.random.PRNGKey(0), 10, inner_k=0)
