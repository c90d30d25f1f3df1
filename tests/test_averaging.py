"""Polyak averaging: the running form against the weighted mean it stands for."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bihm_jax import averaging


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9])
def test_average_is_the_decay_weighted_mean_of_the_updated_parameters(decay):
  optimizer = optax.chain(optax.sgd(0.1), averaging.parameter_average(decay))
  params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
  state = optimizer.init(params)
  iterates = []
  for t in range(6):
    grads = jax.tree.map(lambda p: jnp.sin(p + t), params)   # anything that moves the parameters
    updates, state = optimizer.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    iterates.append(params)
    weights = decay ** np.arange(t, -1, -1.0)   # decay^(t-s) for s = 0..t
    expected = jax.tree.map(lambda *thetas: np.tensordot(weights, np.stack(thetas), 1) / weights.sum(), *iterates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 averaging.find_average(state), expected)
  # The updates themselves pass through unchanged: the parameters are plain SGD's.
  np.testing.assert_allclose(iterates[0]["w"], np.array([1.0, -2.0]) - 0.1 * np.sin([1.0, -2.0]), rtol=1e-6)


def test_find_average_is_none_without_averaging_and_decay_is_checked():
  assert averaging.find_average(optax.adam(1e-3).init({"w": jnp.zeros(2)})) is None
  for decay in (-0.1, 1.0):
    with pytest.raises(ValueError, match="decay must be in"):
      averaging.parameter_average(decay)
