"""Ground truth by enumeration, checked against an independent NumPy computation and the
identities of the reference (section 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bihm_jax as bh
from bihm_jax import exact
from tests import helpers


@pytest.fixture(params=helpers.ARCHITECTURES, ids=str)
def params(request):
  return helpers.random_params(11, *request.param)


def test_all_binary_enumerates_msb_first():
  np.testing.assert_array_equal(exact.all_binary(2), [[0, 0], [0, 1], [1, 0], [1, 1]])
  assert exact.all_binary(5).shape == (32, 5)
  assert len(np.unique(np.asarray(exact.all_binary(5)), axis=0)) == 32


def test_normalisation(params):
  xs = exact.all_binary(bh.layer_sizes_of(params)[0])
  np.testing.assert_allclose(np.exp(jax.nn.logsumexp(exact.log_pstar(params, xs))), 1.0, rtol=1e-5)
  np.testing.assert_allclose(np.exp(jax.nn.logsumexp(exact.log_p_marginal(params, xs))), 1.0, rtol=1e-5)
  np.testing.assert_allclose(exact.log_z2(params), jax.nn.logsumexp(2 * exact.log_ptilde(params, xs)), rtol=1e-6)


def test_matches_numpy_enumeration(params):
  """log p(x), log p~*(x) and log Z^2 from float64 NumPy over every (x, h)."""
  sizes = bh.layer_sizes_of(params)
  xs = np.asarray(exact.all_binary(sizes[0]), np.float64)[:, None, :]       # (2^D, 1, D)
  h_flat = np.asarray(exact.all_binary(sum(sizes[1:])), np.float64)[None]  # (1, 2^H, H)
  bounds = np.cumsum(sizes[1:-1])
  hs = [np.broadcast_to(h, (xs.shape[0], h_flat.shape[1], h.shape[-1])) for h in np.split(h_flat, bounds, axis=-1)]
  x = np.broadcast_to(xs, (xs.shape[0], h_flat.shape[1], sizes[0]))
  log_p, log_q = helpers.reference_log_p(params, x, hs), helpers.reference_log_q(params, x, hs)
  log_p_x = np.log(np.sum(np.exp(log_p), axis=1))
  log_pt_x = np.log(np.sum(np.exp((log_p + log_q) / 2), axis=1))
  all_x = exact.all_binary(sizes[0])
  np.testing.assert_allclose(exact.log_p_marginal(params, all_x), log_p_x, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(exact.log_ptilde(params, all_x), log_pt_x, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(exact.log_z2(params), np.log(np.sum(np.exp(2 * log_pt_x))), atol=1e-5)


def test_bound_identities(params):
  """2 log p~* = log p - 2 D_B(p(h|x), q(h|x)) <= log p, and 2 log p~* <= log p* since Z^2 <= 1."""
  sizes = bh.layer_sizes_of(params)
  xs = exact.all_binary(sizes[0])
  hs = exact.split_latents(exact.all_binary(sum(sizes[1:])), params)
  log_joint_p = jax.vmap(lambda x: jax.vmap(bh.log_p, (None, None, 0))(params, x, hs))(xs)
  log_q = jax.vmap(lambda x: jax.vmap(bh.log_q, (None, None, 0))(params, x, hs))(xs)
  log_posterior = log_joint_p - jax.nn.logsumexp(log_joint_p, axis=1, keepdims=True)
  bhattacharyya = -jax.nn.logsumexp((log_posterior + log_q) / 2, axis=1)
  bound = 2 * exact.log_ptilde(params, xs)
  np.testing.assert_allclose(bound, exact.log_p_marginal(params, xs) - 2 * bhattacharyya, rtol=1e-5, atol=1e-5)
  assert np.all(bhattacharyya > 0)   # p(h|x) != q(h|x) for these parameters, so strictly
  assert np.all(bound < exact.log_p_marginal(params, xs))
  assert float(exact.log_z2(params)) < 0
  np.testing.assert_allclose(exact.log_pstar(params, xs) - bound, -exact.log_z2(params), rtol=1e-6)


def test_gradients_are_autodiff_of_enumeration(params):
  xs = exact.all_binary(bh.layer_sizes_of(params)[0])[:5]
  grads = exact.grad_mean_bound(params, xs)
  # Finite differences along one random direction, in float64-free form: a central difference.
  direction = jax.tree.map(lambda a: jax.random.normal(jax.random.PRNGKey(0), a.shape), params)
  f = lambda t: jnp.mean(2 * exact.log_ptilde(jax.tree.map(lambda a, d: a + t * d, params, direction), xs))
  eps = 1e-2
  fd = (f(eps) - f(-eps)) / (2 * eps)
  np.testing.assert_allclose(helpers.tree_vector(grads) @ helpers.tree_vector(direction), fd, rtol=1e-2)
  grads_p = exact.grad_mean_log_p_marginal(params, xs)
  assert np.all(helpers.tree_vector(grads_p["q"]) == 0)   # log p(x) does not depend on q
  assert np.linalg.norm(helpers.tree_vector(grads_p["p"])) > 0


def test_refuses_models_too_large_to_enumerate():
  params = bh.init_params(jax.random.PRNGKey(0), (16, 5, 2))
  with pytest.raises(ValueError, match=r"23 binary units; exact enumeration is limited to 22"):
    exact.log_z2(params)
