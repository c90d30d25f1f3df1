"""The two directed models: parameters, log-probabilities and ancestral samplers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bihm_jax as bh
from tests import helpers

NUM_DRAWS = 200_000


def test_init_params_shapes_and_original_scheme():
  params = bh.init_params(jax.random.PRNGKey(0), (6, 4, 3))
  shapes = jax.tree.map(jnp.shape, params)
  assert shapes == {
      "p": {"prior": (3,), "layers": [{"w": (4, 6), "b": (6,)}, {"w": (3, 4), "b": (4,)}]},
      "q": {"layers": [{"w": (6, 4), "b": (4,)}, {"w": (4, 3), "b": (3,)}]},
  }
  assert bh.layer_sizes_of(params) == (6, 4, 3)
  for leaf in [params["p"]["prior"]] + [l["b"] for half in ("p", "q") for l in params[half]["layers"]]:
    np.testing.assert_array_equal(leaf, -1.0)
  w = params["q"]["layers"][0]["w"]   # n_in = 6, n_out = 4
  bound = math.sqrt(6) / math.sqrt(10) / 6
  assert float(jnp.max(jnp.abs(w))) <= bound and float(jnp.max(jnp.abs(w))) > bound / 2


def test_init_params_schemes_and_errors():
  glorot = bh.init_params(jax.random.PRNGKey(0), (6, 4), weight_init="glorot_uniform", bias_init=0.0)
  assert float(jnp.std(glorot["p"]["layers"][0]["w"])) > 0.1
  np.testing.assert_array_equal(glorot["q"]["layers"][0]["b"], 0.0)
  custom = bh.init_params(jax.random.PRNGKey(0), (6, 4), weight_init=jax.nn.initializers.constant(0.5))
  np.testing.assert_array_equal(custom["q"]["layers"][0]["w"], 0.5)
  with pytest.raises(ValueError, match="unknown weight_init 'xavier'"):
    bh.init_params(jax.random.PRNGKey(0), (6, 4), weight_init="xavier")
  with pytest.raises(ValueError, match=r"layer_sizes\[1\] must be a positive integer, got 0"):
    bh.init_params(jax.random.PRNGKey(0), (6, 0, 3))
  with pytest.raises(ValueError, match="at least one latent layer"):
    bh.init_params(jax.random.PRNGKey(0), (6,))


def test_init_params_with_deterministic_layers_nests_the_original_mlp():
  params = bh.init_params(jax.random.PRNGKey(0), (6, 4, 3), deterministic_layers=2)
  shapes = jax.tree.map(jnp.shape, params)
  mlp = lambda n_in, n_out, m: {"hidden": [{"w": (n_in, m), "b": (m,)}, {"w": (m, m), "b": (m,)}],
                                "w": (m, n_out), "b": (n_out,)}
  assert shapes == {"p": {"prior": (3,), "layers": [mlp(4, 6, 5), mlp(3, 4, 3)]},
                    "q": {"layers": [mlp(6, 4, 5), mlp(4, 3, 3)]}}
  assert bh.layer_sizes_of(params) == (6, 4, 3)
  with pytest.raises(ValueError, match="deterministic_layers must be an integer >= 0, got -1"):
    bh.init_params(jax.random.PRNGKey(0), (6, 4), deterministic_layers=-1)


@pytest.mark.parametrize("sizes, deterministic_layers", helpers.ARCHITECTURES)
def test_log_probs_match_independent_reference(sizes, deterministic_layers):
  params = helpers.random_params(1, sizes, deterministic_layers)
  xs, hss = jax.vmap(bh.sample_p, (None, 0))(params, jax.random.split(jax.random.PRNGKey(2), 20))
  for i in range(20):
    x, hs = xs[i], tuple(h[i] for h in hss)
    np.testing.assert_allclose(bh.log_p(params, x, hs), helpers.reference_log_p(params, x, hs), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bh.log_q(params, x, hs), helpers.reference_log_q(params, x, hs), rtol=1e-5, atol=1e-5)


def _joint_log_p_table(params):
  """log p(x, h) for every joint state, indexed by the bits of (x, h_1, ..., h_L) MSB first."""
  sizes = bh.layer_sizes_of(params)
  states = bh.exact.all_binary(sum(sizes))
  x, h = states[:, :sizes[0]], bh.exact.split_latents(states[:, sizes[0]:], params)
  return jax.vmap(bh.log_p, (None, 0, 0))(params, x, h)


def _sample_p_indices(params, seed):
  xs, hss = jax.vmap(bh.sample_p, (None, 0))(params, jax.random.split(jax.random.PRNGKey(seed), NUM_DRAWS))
  for a in (xs,) + hss:
    assert a.dtype == jnp.float32 and set(np.unique(a)) <= {0.0, 1.0}
  return helpers.bits_to_index(jnp.concatenate((xs,) + hss, axis=1))


@pytest.mark.parametrize("sizes, deterministic_layers", helpers.ARCHITECTURES)
def test_sample_p_draws_from_p(sizes, deterministic_layers):
  params = helpers.random_params(3, sizes, deterministic_layers)
  probs = np.exp(np.asarray(_joint_log_p_table(params), np.float64))
  np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
  indices = _sample_p_indices(params, seed=4)
  assert helpers.chi_square_pvalue(indices, probs) > helpers.MIN_PVALUE
  # The test has power: draws from slightly different parameters are rejected.
  nudged = jax.tree.map(lambda a: a + 0.1, params)
  assert helpers.chi_square_pvalue(_sample_p_indices(nudged, seed=4), probs) < helpers.MIN_PVALUE


@pytest.mark.parametrize("sizes, deterministic_layers", helpers.ARCHITECTURES)
def test_sample_q_draws_from_q(sizes, deterministic_layers):
  params = helpers.random_params(5, sizes, deterministic_layers)
  x = jnp.array([1, 0, 1, 1, 0, 0, 1, 0][:sizes[0]], jnp.float32)
  all_h = bh.exact.split_latents(bh.exact.all_binary(sum(sizes[1:])), params)
  probs = np.exp(np.asarray(jax.vmap(bh.log_q, (None, None, 0))(params, x, all_h), np.float64))
  np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)

  def indices(p, seed):
    hs = jax.vmap(bh.sample_q, (None, 0, None))(p, jax.random.split(jax.random.PRNGKey(seed), NUM_DRAWS), x)
    return helpers.bits_to_index(jnp.concatenate(hs, axis=1))

  assert helpers.chi_square_pvalue(indices(params, 6), probs) > helpers.MIN_PVALUE
  nudged = jax.tree.map(lambda a: a + 0.1, params)
  assert helpers.chi_square_pvalue(indices(nudged, 6), probs) < helpers.MIN_PVALUE


def test_extreme_logits_give_finite_log_probs_and_gradients():
  sizes = (6, 4, 3)
  params = jax.tree.map(lambda a: 100.0 * jnp.sign(a), helpers.random_params(7, sizes))
  x = jnp.array([1, 0, 1, 0, 1, 0], jnp.float32)
  hs = bh.sample_q(params, jax.random.PRNGKey(0), x)
  flipped = tuple(1.0 - h for h in hs)
  for h in (hs, flipped):
    for fn in (bh.log_p, bh.log_q):
      value, grads = jax.value_and_grad(fn)(params, x, h)
      assert np.isfinite(value)
      assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  # No clipping: with every weight and bias at +100 all logits are >= 100, so the all-zero
  # latents cost exactly the sum of their logits (a clip at 1e-6 would cap each unit at 13.8).
  saturated = jax.tree.map(lambda a: jnp.full_like(a, 100.0), params)
  zeros = tuple(jnp.zeros(n) for n in sizes[1:])
  np.testing.assert_allclose(bh.log_q(saturated, x, zeros), -(4 * 400.0 + 3 * 100.0), rtol=1e-6)
  xb = jnp.stack([x, 1.0 - x])
  for loss_fn in (bh.bihm_loss, bh.rws_loss):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, jax.random.PRNGKey(1), xb, 4)
    assert np.isfinite(loss) and all(np.all(np.isfinite(v)) for v in metrics.values())
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_bernoulli_gradients_equal_those_of_the_textbook_form():
  """The one-exp form's gradients against autodiff of bits l - softplus(l), extremes included."""
  from bihm_jax import bernoulli  # pylint: disable=g-import-not-at-top
  logits = jnp.array([[-100.0, -20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 100.0]] * 2)
  bits = jnp.array([[0, 1, 0, 1, 1, 0, 1, 0, 1], [1, 0, 1, 0, 0, 1, 0, 1, 0]], jnp.float32)
  uniform = bernoulli.uniform(jax.random.PRNGKey(0), logits.shape)
  weights = jnp.array([0.3, -2.0])   # distinct cotangents per row: the VJP must broadcast them

  def textbook(l, b):
    return jnp.sum(b * l - jax.nn.softplus(l), axis=-1)

  expected = jax.grad(lambda l: weights @ textbook(l, bits))(logits)
  np.testing.assert_allclose(jax.grad(lambda l: weights @ bernoulli.log_prob(l, bits))(logits), expected,
                             rtol=1e-6, atol=1e-7)
  drawn = bernoulli.sample_and_log_prob(uniform, logits)[0]
  assert 0 < float(jnp.mean(drawn)) < 1
  expected = jax.grad(lambda l: weights @ textbook(l, drawn))(logits)
  actual = jax.grad(lambda l: weights @ bernoulli.sample_and_log_prob(uniform, l)[1])(logits)
  np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)
  assert np.count_nonzero(actual) >= 10   # the control: a zero gradient would fail above
  # The bits are samples: no gradient flows through them.
  assert not np.any(jax.grad(lambda l: jnp.sum(bernoulli.sample_and_log_prob(uniform, l)[0]))(logits))
  # Under vmap and jit too.
  per_row = jax.jit(jax.vmap(jax.grad(lambda l, b: bernoulli.log_prob(l, b))))(logits, bits)
  np.testing.assert_allclose(per_row, jax.vmap(jax.grad(textbook))(logits, bits), rtol=1e-6, atol=1e-7)


def test_bernoulli_draws_rare_values_no_more_often_than_their_probability():
  """10^8 draws per logit. A value of probability s < 2^-23 must not come up ~12 times, as it did
  with float32 uniforms compared by U[0, 1) < sigmoid(l) (U = 0 once in 2^23 draws), while at
  l = +-12 (s = 6.1e-6) the rare value must come up as often as s says."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  from bihm_jax import bernoulli  # pylint: disable=g-import-not-at-top
  logits = jnp.array([-40.0, -25.0, -18.0, 18.0, 25.0, 40.0, -12.0, 12.0])
  rows, chunks = 1_000_000, 100

  @jax.jit
  def count_ones(key):
    def chunk(total, k):
      return total + jnp.sum(bernoulli.sample(k, jnp.broadcast_to(logits, (rows, logits.size))), axis=0), None
    return jax.lax.scan(chunk, jnp.zeros(logits.size), jax.random.split(key, chunks))[0]

  n = rows * chunks
  ones = np.asarray(count_ones(jax.random.PRNGKey(0)), np.float64)
  rare = np.where(logits >= 0, n - ones, ones)
  expected = n * np.asarray(jax.nn.sigmoid(-jnp.abs(logits)), np.float64)
  for l, count, mean in zip(np.asarray(logits), rare, expected):
    # Neither tail of Poisson(mean) below the suite's significance level: too many rare draws,
    # and too few (the control: a sampler that never drew rare values fails at l = +-12).
    assert stats.poisson.sf(count - 1, mean) >= helpers.MIN_PVALUE, (l, count, mean)
    assert stats.poisson.cdf(count, mean) >= helpers.MIN_PVALUE, (l, count, mean)


def test_bernoulli_uniform_is_on_the_half_open_grid():
  from bihm_jax import bernoulli  # pylint: disable=g-import-not-at-top
  u = np.asarray(bernoulli.uniform(jax.random.PRNGKey(0), (1_000_000,)), np.float64)
  assert u.min() > 0.0 and u.max() <= 1.0
  small = u[u < 2.0**-8]   # exact there: integer multiples of 2^-32
  np.testing.assert_array_equal(small * 2.0**32, np.round(small * 2.0**32))
  assert abs(u.mean() - 0.5) < 6 * math.sqrt(1 / 12 / u.size)


def test_per_sample_keys_give_distinct_samples():
  params = helpers.random_params(8, (6, 4, 3), scale=0.1)
  hs = jax.vmap(bh.sample_q, (None, 0, None))(params, jax.random.split(jax.random.PRNGKey(0), 64), jnp.ones(6))
  assert len(np.unique(np.asarray(jnp.concatenate(hs, axis=1)), axis=0)) > 32
