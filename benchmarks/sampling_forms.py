"""A/B of the two design choices behind `bihm_jax.bernoulli` and the model's samplers.

  python -m benchmarks.sampling_forms [--rounds=60] [--samples=1000]

1. Sampling and scoring a Bernoulli layer: the library's form (sigmoid and softplus from one
   e = exp(-|l|)) against `jax.nn.sigmoid` for the draw plus `jax.nn.softplus` for the
   log-probability, forward and value-and-gradient, on a (samples, 870) block of logits (870 =
   the MNIST model's latent units).
2. Drawing the uniforms of the MNIST model's 12 latent layers for each sample: one generator
   call per layer against one call for all layers (`model._uniforms`).
3. The Bernoulli gradient: autodiff of the library's form against a hand-written VJP
   (`jax.custom_vjp` keeping the one residual bits - sigmoid(l), whose backward pass is one
   multiply), on the block of item 1 and in a whole BiHM training step of the MNIST model at
   (B, K) = (100, 10) on random binary data (that step is traced with the library's two
   Bernoulli functions swapped for the hand-written ones).

Variants are timed in interleaved rounds (A, B, A, B, ...) and the medians reported, so a
machine shared with other jobs loads both alike.
"""

import contextlib
import statistics
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from bihm_jax import bernoulli, model

_ROUNDS = flags.DEFINE_integer("rounds", 60, "Interleaved timing rounds.")
_SAMPLES = flags.DEFINE_integer("samples", 1000, "Samples (rows) per call, as B K in a step.")


def _separate_transcendentals(uniform: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  rare = uniform <= jax.nn.sigmoid(-jnp.abs(logits))   # the library's draw (see bernoulli)
  bits = jnp.where(logits >= 0, ~rare, rare).astype(jnp.float32)
  return bits, jnp.sum(bits * logits - jax.nn.softplus(logits), axis=-1)


# pylint: disable=protected-access
@jax.custom_vjp
def _vjp_log_prob(logits: jax.Array, bits: jax.Array) -> jax.Array:
  return _vjp_log_prob_fwd(logits, bits)[0]


def _vjp_log_prob_fwd(logits, bits):
  e = bernoulli._exp_minus_abs(logits)
  return bernoulli._log_prob(logits, bits, e), bits - bernoulli._sigmoid(logits, e)


_vjp_log_prob.defvjp(_vjp_log_prob_fwd, lambda residual, ct: (ct[..., None] * residual, None))


@jax.custom_vjp
def _vjp_sample_and_log_prob(uniform: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  return _vjp_sample_and_log_prob_fwd(uniform, logits)[0]


def _vjp_sample_and_log_prob_fwd(uniform, logits):
  e = bernoulli._exp_minus_abs(logits)
  bits = bernoulli._draw(uniform, logits, e)
  return (bits, bernoulli._log_prob(logits, bits, e)), bits - bernoulli._sigmoid(logits, e)


_vjp_sample_and_log_prob.defvjp(_vjp_sample_and_log_prob_fwd,
                                lambda residual, cts: (None, cts[1][..., None] * residual))
# pylint: enable=protected-access


@contextlib.contextmanager
def _hand_written_vjps():
  """Within the block, the model traces the hand-written VJPs instead of the library's forms."""
  saved = bernoulli.log_prob, bernoulli.sample_and_log_prob
  bernoulli.log_prob, bernoulli.sample_and_log_prob = _vjp_log_prob, _vjp_sample_and_log_prob
  try:
    yield
  finally:
    bernoulli.log_prob, bernoulli.sample_and_log_prob = saved


def _interleaved_medians(calls: dict[str, callable], rounds: int) -> dict[str, float]:
  for call in calls.values():
    jax.block_until_ready(call())
  times = {name: [] for name in calls}
  for _ in range(rounds):
    for name, call in calls.items():
      start = time.perf_counter()
      jax.block_until_ready(call())
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(values) for name, values in times.items()}


def main(argv):
  del argv
  latent_sizes = common.MNIST_SIZES[1:]
  key = jax.random.PRNGKey(0)
  logits = 3.0 * jax.random.normal(key, (_SAMPLES.value, sum(latent_sizes)))
  uniform = bernoulli.uniform(jax.random.PRNGKey(1), logits.shape)

  def score(form):
    return lambda l: jnp.sum(form(uniform, l)[1])

  forms = {"library: one exp(-|l|)": bernoulli.sample_and_log_prob,
           "jax.nn.sigmoid + jax.nn.softplus": _separate_transcendentals,
           "one exp(-|l|), hand-written VJP": _vjp_sample_and_log_prob}
  calls = {}
  for name, form in forms.items():
    forward, gradient = jax.jit(score(form)), jax.jit(jax.value_and_grad(score(form)))
    calls[f"{name}, forward"] = lambda f=forward: f(logits)
    calls[f"{name}, value_and_grad"] = lambda g=gradient: g(logits)

  keys = jax.random.split(key, _SAMPLES.value)
  per_layer = jax.jit(jax.vmap(lambda k: [jax.random.uniform(layer_key, (n,)) for layer_key, n in
                                          zip(jax.random.split(k, len(latent_sizes)), latent_sizes)]))
  one_call = jax.jit(jax.vmap(lambda k: model._uniforms(k, latent_sizes)))  # pylint: disable=protected-access
  calls["uniforms, one call per layer"] = lambda: per_layer(keys)
  calls["uniforms, one call for all layers"] = lambda: one_call(keys)

  x = (np.random.default_rng(0).random((100, common.MNIST_SIZES[0])) < 0.5).astype(np.float32)
  calls["BiHM step (100, 10), library (autodiff)"] = common.training_call("bihm", 100, 10, x)
  with _hand_written_vjps():
    hand_written_step = common.training_call("bihm", 100, 10, x)
    jax.block_until_ready(hand_written_step())   # traced now, inside the swap
  calls["BiHM step (100, 10), hand-written VJP"] = hand_written_step

  medians = _interleaved_medians(calls, _ROUNDS.value)
  print(f"{_SAMPLES.value} samples x {sum(latent_sizes)} units, median of {_ROUNDS.value} interleaved rounds")
  for name, seconds in medians.items():
    print(f"  {name:52s} {seconds * 1e3:8.3f} ms")


if __name__ == "__main__":
  app.run(main)
