"""The two directed models of a BiHM: top-down p and bottom-up q (reference section 1).

Layer sizes `(D, n_1, ..., n_L)` name the data `x = h_0` and the latent layers.
Parameters are a pytree with two halves:

  params["p"]["prior"]        (n_L,)            logits of the factorial top prior p(h_L)
  params["p"]["layers"][l]    {"w": (n_{l+1}, n_l), "b": (n_l,)}   p(h_l | h_{l+1}), l = 0..L-1
  params["q"]["layers"][l-1]  {"w": (n_{l-1}, n_l), "b": (n_l,)}   q(h_l | h_{l-1}), l = 1..L

With `deterministic_layers` d > 0 (the original code's option of that name) every conditional's
logits come from a tanh MLP instead of one affine map: a layer from n_in to n_out units then also
holds {"hidden": [{"w": (n_in, m), "b": (m,)}, {"w": (m, m), "b": (m,)}, ...]} (d entries,
m = (n_in + n_out) // 2) and its "w" is (m, n_out). The units of each layer stay conditionally
independent Bernoullis given the layer they condition on, so every estimator and sampler holds as is.

Every function here handles one example (no batch axis); callers `jax.vmap` them.
A latent sample `hs` is a tuple `(h_1, ..., h_L)` of float32 0/1 vectors.
"""

from collections.abc import Callable, Sequence
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp

from bihm_jax import bernoulli

Params = dict[str, Any]
Latents = tuple[jax.Array, ...]
Initializer = Callable[[jax.Array, tuple[int, ...], Any], jax.Array]


def original_uniform() -> Initializer:
  """The original code's weight init: U(-s, s), s = sqrt(6) / sqrt(n_in + n_out) / n_in."""

  def init(key, shape, dtype=jnp.float32):
    n_in, n_out = shape
    scale = math.sqrt(6.0) / math.sqrt(n_in + n_out) / n_in
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


_WEIGHT_INITS: dict[str, Callable[[], Initializer]] = {
    "original": original_uniform,
    "glorot_uniform": jax.nn.initializers.glorot_uniform,
    "lecun_normal": jax.nn.initializers.lecun_normal,
    "zeros": lambda: jax.nn.initializers.zeros,
}


def check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
  """Returns `layer_sizes` as a tuple of ints, or raises ValueError naming the problem."""
  sizes = tuple(layer_sizes)
  if len(sizes) < 2:
    raise ValueError(f"layer_sizes needs the data size and at least one latent layer, got {sizes}")
  for i, n in enumerate(sizes):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
      raise ValueError(f"layer_sizes[{i}] must be a positive integer, got {n!r} in {sizes}")
  return sizes


def layer_sizes_of(params: Params) -> tuple[int, ...]:
  """Recovers `(D, n_1, ..., n_L)` from a parameter pytree."""
  return tuple(layer["b"].shape[0] for layer in params["p"]["layers"]) + (
      params["p"]["prior"].shape[0],)


def init_params(
    key: jax.Array,
    layer_sizes: Sequence[int],
    *,
    weight_init: str | Initializer = "original",
    bias_init: float = -1.0,
    deterministic_layers: int = 0,
) -> Params:
  """Initial parameters of a BiHM with layer sizes `(D, n_1, ..., n_L)`.

  Args:
    key: PRNG key.
    layer_sizes: data size then latent layer sizes, bottom to top.
    weight_init: "original" (the paper's code: near-zero uniform), "glorot_uniform",
      "lecun_normal", "zeros", or any `jax.nn.initializers`-style callable
      `(key, (n_in, n_out), dtype) -> array`.
    bias_init: value of every bias, the top prior's included (the original uses -1).
    deterministic_layers: tanh hidden layers of (n_in + n_out) // 2 units inside each
      conditional of p and q (the original code's `--deterministic-layers`; 0, its default,
      makes each conditional a single affine map, as in the paper's SBNs).

  Returns:
    The parameter pytree described in the module docstring.
  """
  sizes = check_layer_sizes(layer_sizes)
  if isinstance(deterministic_layers, bool) or not isinstance(deterministic_layers, int) or deterministic_layers < 0:
    raise ValueError(f"deterministic_layers must be an integer >= 0, got {deterministic_layers!r}")
  if isinstance(weight_init, str):
    if weight_init not in _WEIGHT_INITS:
      raise ValueError(f"unknown weight_init {weight_init!r}; choose from {sorted(_WEIGHT_INITS)}")
    weight_init = _WEIGHT_INITS[weight_init]()
  num_layers = len(sizes) - 1
  p_keys, q_keys = jnp.split(jax.random.split(key, 2 * num_layers), 2)

  def dense(k, n_in, n_out):
    return {"w": weight_init(k, (n_in, n_out), jnp.float32),
            "b": jnp.full((n_out,), bias_init, jnp.float32)}

  def conditional(k, n_in, n_out):
    """The original's MLP: n_in -> m -> ... -> m (tanh) -> n_out (logits), m = (n_in + n_out) // 2."""
    if not deterministic_layers:
      return dense(k, n_in, n_out)
    widths = [n_in] + [(n_in + n_out) // 2] * deterministic_layers
    keys = jax.random.split(k, deterministic_layers + 1)
    return {"hidden": [dense(keys[i], widths[i], widths[i + 1]) for i in range(deterministic_layers)],
            **dense(keys[-1], widths[-1], n_out)}

  return {
      "p": {
          "prior": jnp.full((sizes[-1],), bias_init, jnp.float32),
          "layers": [conditional(p_keys[l], sizes[l + 1], sizes[l]) for l in range(num_layers)],
      },
      "q": {
          "layers": [conditional(q_keys[l], sizes[l], sizes[l + 1]) for l in range(num_layers)],
      },
  }


def logits(layer: Params, inputs: jax.Array) -> jax.Array:
  """Logits (..., n_out) of a conditional for inputs (..., n_in): `inputs @ w + b` for a layer
  {"w", "b"}, after its tanh hidden layers `a <- tanh(a @ w_i + b_i)` when it has "hidden"."""
  for hidden in layer.get("hidden", ()):
    inputs = jnp.tanh(inputs @ hidden["w"] + hidden["b"])
  return inputs @ layer["w"] + layer["b"]


def _uniforms(key: jax.Array, sizes: Sequence[int]) -> list[jax.Array]:
  """Independent `bernoulli.uniform` vectors of the given sizes, from one call to the generator."""
  return jnp.split(bernoulli.uniform(key, (sum(sizes),)), list(itertools.accumulate(sizes))[:-1])


def sample_q_and_log_q(params: Params, key: jax.Array, x: jax.Array) -> tuple[Latents, jax.Array]:
  """Bottom-up sweep h_l ~ q(h_l | h_{l-1}), scoring each draw with the logits it came from.

  Args:
    params: BiHM parameters.
    key: PRNG key.
    x: (D,) data vector in {0, 1}.

  Returns:
    `(hs, log_q)`: the latents `(h_1, ..., h_L)` and the scalar log q(h | x). The
    log-probability is differentiable in `params["q"]` with the samples held fixed.
  """
  layers = params["q"]["layers"]
  uniforms = _uniforms(key, [layer["b"].shape[0] for layer in layers])
  h, hs, total = x, [], 0.0
  for layer, uniform in zip(layers, uniforms):
    h, log_prob = bernoulli.sample_and_log_prob(uniform, logits(layer, h))
    total += log_prob
    hs.append(h)
  return tuple(hs), total


def sample_q(params: Params, key: jax.Array, x: jax.Array) -> Latents:
  """Draws `(h_1, ..., h_L)` ~ q(h | x) for one x of shape (D,); each h_l is (n_l,) float32."""
  return sample_q_and_log_q(params, key, x)[0]


def sample_p_and_log_p(params: Params, key: jax.Array) -> tuple[jax.Array, Latents, jax.Array]:
  """Ancestral sample of the top-down model, h_L ~ p(h_L) then h_l ~ p(h_l | h_{l+1}), scoring
  each draw with the logits it came from.

  Returns:
    `(x, hs, log_p)`: x of shape (D,), latents `(h_1, ..., h_L)` (all float32 0/1), and the
    scalar log p(x, h).
  """
  layers = params["p"]["layers"]
  uniforms = _uniforms(key, [layer["b"].shape[0] for layer in layers] + [params["p"]["prior"].shape[0]])
  h, total = bernoulli.sample_and_log_prob(uniforms[-1], params["p"]["prior"])
  top_down = [h]
  for l in reversed(range(len(layers))):
    h, log_prob = bernoulli.sample_and_log_prob(uniforms[l], logits(layers[l], h))
    total += log_prob
    top_down.append(h)
  x, *hs = reversed(top_down)
  return x, tuple(hs), total


def sample_p(params: Params, key: jax.Array) -> tuple[jax.Array, Latents]:
  """Draws `(x, (h_1, ..., h_L))` ~ p(x, h) by ancestral sampling; all float32 0/1."""
  x, hs, _ = sample_p_and_log_p(params, key)
  return x, hs


def log_p(params: Params, x: jax.Array, hs: Latents) -> jax.Array:
  """log p(x, h) = log p(h_L) + sum_l log p(h_l | h_{l+1}), a scalar; x is (D,)."""
  states = (x,) + tuple(hs)
  total = bernoulli.log_prob(params["p"]["prior"], states[-1])
  for l, layer in enumerate(params["p"]["layers"]):
    total += bernoulli.log_prob(logits(layer, states[l + 1]), states[l])
  return total


def log_q(params: Params, x: jax.Array, hs: Latents) -> jax.Array:
  """log q(h | x) = sum_l log q(h_l | h_{l-1}), a scalar; x is (D,)."""
  states = (x,) + tuple(hs)
  total = 0.0
  for l, layer in enumerate(params["q"]["layers"]):
    total += bernoulli.log_prob(logits(layer, states[l]), states[l + 1])
  return total
