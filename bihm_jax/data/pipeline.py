"""The training input pipeline: one epoch of shuffled, fixed-size minibatches, on the device."""

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnames=("batch_size", "binarize"))
def epoch_batches(key: jax.Array, data_array: jax.Array, batch_size: int, *,
                  binarize: bool = False) -> jax.Array:
  """One epoch of minibatches: the rows of `data_array` permuted by `key`, cut into batches.

  The N mod batch_size leftover rows are dropped, so every batch has the same shape and
  `jit` compiles the training step once. Pure and deterministic in `key`: call it with
  `fold_in(data_key, epoch)` and the data order depends on (seed, epoch) only.

  Args:
    key: PRNG key of this epoch.
    data_array: (N, D) data, ideally already on the device (binary, or probabilities in [0, 1]
      when `binarize`).
    batch_size: rows per batch (static), 1 <= batch_size <= N.
    binarize: replace each value by a Bernoulli(value) draw (dynamic binarization), with a
      key derived from `key`.

  Returns:
    (N // batch_size, batch_size, D) float32.
  """
  num_rows, num_cols = data_array.shape
  if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= num_rows:
    raise ValueError(f"batch_size must be an integer in [1, N = {num_rows}], got {batch_size!r}")
  num_batches = num_rows // batch_size
  order_key, binarize_key = jax.random.split(key)
  rows = jax.random.permutation(order_key, num_rows)[:num_batches * batch_size]
  x = jnp.take(data_array, rows, axis=0).astype(jnp.float32)
  if binarize:
    x = jax.random.bernoulli(binarize_key, x).astype(jnp.float32)
  return x.reshape(num_batches, batch_size, num_cols)
