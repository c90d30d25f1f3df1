"""Data drawn from a fixed random sigmoid belief network, whose exact likelihood is known.

The teacher is a BiHM parameter pytree; its top-down half p generates the data by ancestral
sampling, so `bihm_jax.exact.log_p_marginal(teacher, x)` is the true log-likelihood of every
example (for teachers small enough to enumerate).
"""

from collections.abc import Sequence
import functools

import jax
import jax.numpy as jnp
import numpy as np

from bihm_jax import model
from bihm_jax.data.catalog import SPLITS

DEFAULT_LAYER_SIZES = (8, 5, 3)
DEFAULT_SIZES = {"train": 2000, "valid": 500, "test": 500}
WEIGHT_STDDEV = 2.0
BIAS_STDDEV = 1.0
CHUNK = 1024


def _keys(seed: int) -> tuple[jax.Array, jax.Array]:
  """(teacher key, data key) of a seed."""
  teacher_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
  return teacher_key, data_key


def synthetic_teacher(layer_sizes: Sequence[int] = DEFAULT_LAYER_SIZES, seed: int = 0) -> model.Params:
  """The generating model of the "synthetic" dataset for `(layer_sizes, seed)`.

  Weights are N(0, WEIGHT_STDDEV^2) and the biases of p (its top prior included) are
  N(0, BIAS_STDDEV^2), so that the data distribution is far from uniform and from factorial.
  The q half is `init_params`' (zero biases, same weight law); it plays no part in the data.

  Args:
    layer_sizes: `(D, n_1, ..., n_L)`, as for `bihm_jax.init_params`.
    seed: integer seed.

  Returns:
    A parameter pytree as described in `bihm_jax.model`.
  """
  return _teacher(model.check_layer_sizes(layer_sizes), _keys(seed)[0])


@functools.partial(jax.jit, static_argnums=0)
def _teacher(sizes: tuple[int, ...], key: jax.Array) -> model.Params:
  init_key, bias_key = jax.random.split(key)
  params = model.init_params(init_key, sizes, weight_init=jax.nn.initializers.normal(WEIGHT_STDDEV),
                             bias_init=0.0)
  p = params["p"]
  bias_keys = jax.random.split(bias_key, len(p["layers"]) + 1)
  p["prior"] = BIAS_STDDEV * jax.random.normal(bias_keys[-1], p["prior"].shape)
  for layer, key in zip(p["layers"], bias_keys):
    layer["b"] = BIAS_STDDEV * jax.random.normal(key, layer["b"].shape)
  return params


def load_synthetic(
    split: str,
    *,
    layer_sizes: Sequence[int] = DEFAULT_LAYER_SIZES,
    seed: int = 0,
    num_examples: int | None = None,
) -> np.ndarray:
  """Split `split` of the synthetic dataset: (num_examples, D) uint8 ancestral samples of p.

  Deterministic per `(layer_sizes, seed, split, num_examples)`; each split has its own key,
  and a larger `num_examples` extends a smaller one's rows.

  Args:
    split: "train", "valid" or "test".
    layer_sizes: the teacher's layer sizes `(D, n_1, ..., n_L)`.
    seed: the teacher's and the data's seed.
    num_examples: rows to draw; by default DEFAULT_SIZES[split].
  """
  num = DEFAULT_SIZES[split] if num_examples is None else num_examples
  if isinstance(num, bool) or not isinstance(num, int) or num < 1:
    raise ValueError(f"num_examples must be a positive integer, got {num_examples!r}")
  teacher = synthetic_teacher(layer_sizes, seed)
  split_key = jax.random.fold_in(_keys(seed)[1], SPLITS.index(split))
  chunks = [_ancestral_chunk(teacher, split_key, start) for start in range(0, num, CHUNK)]
  return np.concatenate([np.asarray(chunk, np.uint8) for chunk in chunks])[:num]


@jax.jit
def _ancestral_chunk(teacher: model.Params, key: jax.Array, start: jax.Array) -> jax.Array:
  """(CHUNK, D) draws x ~ p(x), draw i from `fold_in(key, i)` for i = start, start + 1, ...

  Fixed-size chunks compile once per teacher shape, whatever the number of examples.
  """
  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, start + jnp.arange(CHUNK))
  return jax.vmap(model.sample_p, (None, 0))(teacher, keys)[0]
