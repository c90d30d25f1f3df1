"""bihm_jax.data's input pipeline (epoch_batches) and the synthetic dataset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bihm_jax import data, exact

KEY = jax.random.PRNGKey(0)


def _indexed_rows(n: int, d: int = 12) -> jax.Array:
  """(n, d) binary rows, row i holding the bits of i, so that batches can be traced back."""
  return exact.all_binary(d)[:n]


def _row_ids(batches: jax.Array) -> np.ndarray:
  bits = np.asarray(batches).reshape(-1, batches.shape[-1])
  return bits @ (1 << np.arange(bits.shape[1] - 1, -1, -1))


def test_epoch_batches_is_a_permutation_without_the_ragged_remainder():
  x = _indexed_rows(103)
  batches = data.epoch_batches(KEY, x, 10)
  assert batches.shape == (10, 10, 12) and batches.dtype == jnp.float32
  ids = _row_ids(batches)
  assert len(set(ids)) == 100 and set(ids) <= set(range(103))
  assert not np.array_equal(ids, np.arange(100))  # Shuffled.
  assert data.epoch_batches(KEY, x, 103).shape == (1, 103, 12)


def test_epoch_batches_is_deterministic_per_key_and_differs_between_epochs():
  x = _indexed_rows(64)
  epoch = lambda e: _row_ids(data.epoch_batches(jax.random.fold_in(KEY, e), x, 16))
  np.testing.assert_array_equal(epoch(3), epoch(3))
  assert not np.array_equal(epoch(3), epoch(4))
  assert sorted(epoch(3)) == sorted(epoch(4)) == list(range(64))


def test_epoch_batches_inside_jit_and_bad_batch_sizes():
  x = _indexed_rows(20)

  @jax.jit
  def first_batch_sum(key, x):
    return data.epoch_batches(key, x, 8)[0].sum()

  np.testing.assert_allclose(first_batch_sum(KEY, x), data.epoch_batches(KEY, x, 8)[0].sum())
  for bad in (21, 0, 2.0):
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, N = 20\]"):
      data.epoch_batches(KEY, x, bad)


def test_dynamic_binarization_draws_bernoulli_of_each_value():
  probs = jnp.tile(jnp.linspace(0.0, 1.0, 11), (4000, 1))  # Columns of probability 0, 0.1, ... 1.
  batches = data.epoch_batches(KEY, probs, 100, binarize=True)
  assert set(np.unique(batches)) == {0.0, 1.0}
  np.testing.assert_allclose(batches.reshape(-1, 11).mean(0), np.linspace(0.0, 1.0, 11), atol=0.025)
  np.testing.assert_array_equal(batches, data.epoch_batches(KEY, probs, 100, binarize=True))
  assert not np.array_equal(batches, data.epoch_batches(jax.random.fold_in(KEY, 1), probs, 100,
                                                        binarize=True))
  # Binary data is left as it is, and the row order is the one without binarization.
  x = _indexed_rows(50)
  np.testing.assert_array_equal(data.epoch_batches(KEY, x, 5, binarize=True), data.epoch_batches(KEY, x, 5))


def test_synthetic_data_is_deterministic_and_differs_between_splits_and_seeds():
  train = data.load("synthetic", "train")
  assert train.shape == (2000, 8) and train.dtype == np.uint8 and set(np.unique(train)) == {0, 1}
  assert data.load("synthetic", "valid").shape == data.load("synthetic", "test").shape == (500, 8)
  np.testing.assert_array_equal(train, data.load("synthetic", "train", layer_sizes=(8, 5, 3), seed=0))
  assert not np.array_equal(train[:500], data.load("synthetic", "test"))
  assert not np.array_equal(train, data.load("synthetic", "train", seed=1))
  np.testing.assert_array_equal(data.load("synthetic", "train", num_examples=50), train[:50])
  assert data.dimension("synthetic") == 8 and data.dimension("synthetic", layer_sizes=(6, 2)) == 6
  with pytest.raises(ValueError, match="num_examples must be a positive integer"):
    data.load("synthetic", "train", num_examples=0)


def test_synthetic_data_follows_the_teachers_exact_likelihood():
  sizes, n = (4, 3, 2), 40000
  teacher = data.synthetic_teacher(sizes, seed=3)
  assert all(np.any(layer["b"] != 0) for layer in teacher["p"]["layers"])
  assert np.any(teacher["p"]["prior"] != 0)
  x = data.load("synthetic", "train", layer_sizes=sizes, seed=3, num_examples=n)
  patterns = exact.all_binary(4)
  log_p_marginal = jax.jit(exact.log_p_marginal)
  exact_p = np.exp(np.asarray(log_p_marginal(teacher, patterns)))
  assert exact_p.max() > 2.0 / 16  # Far from uniform, so that the check below has teeth.
  ids = x @ np.array([8, 4, 2, 1])
  empirical = np.bincount(ids, minlength=16) / n
  five_sigma = 5 * np.sqrt(exact_p * (1 - exact_p) / n) + 1e-4
  assert np.all(np.abs(empirical - exact_p) <= five_sigma), (empirical, exact_p)
  other = np.exp(np.asarray(log_p_marginal(data.synthetic_teacher(sizes, seed=4), patterns)))
  assert np.abs(empirical - other).max() > 0.02
