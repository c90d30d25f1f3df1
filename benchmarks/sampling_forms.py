"""A/B of the two design choices behind `bihm_jax.bernoulli` and the model's samplers.

  python -m benchmarks.sampling_forms [--rounds=60] [--samples=1000]

1. Sampling and scoring a Bernoulli layer: the library's form (sigmoid and softplus from one
   e = exp(-|l|)) against `jax.nn.sigmoid` for the draw plus `jax.nn.softplus` for the
   log-probability, forward and value-and-gradient, on a (samples, 870) block of logits (870 =
   the MNIST model's latent units).
2. Drawing the uniforms of the MNIST model's 12 latent layers for each sample: one generator
   call per layer against one call for all layers (`model._uniforms`).

Variants are timed in interleaved rounds (A, B, A, B, ...) and the medians reported, so a
machine shared with other jobs loads both alike.
"""

import statistics
import time

from absl import app, flags
import jax
import jax.numpy as jnp

from benchmarks import common
from bihm_jax import bernoulli, model

_ROUNDS = flags.DEFINE_integer("rounds", 60, "Interleaved timing rounds.")
_SAMPLES = flags.DEFINE_integer("samples", 1000, "Samples (rows) per call, as B K in a step.")


def _separate_transcendentals(uniform: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  bits = (uniform < jax.nn.sigmoid(logits)).astype(jnp.float32)
  return bits, jnp.sum(bits * logits - jax.nn.softplus(logits), axis=-1)


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
  uniform = jax.random.uniform(jax.random.PRNGKey(1), logits.shape)

  def score(form):
    return lambda l: jnp.sum(form(uniform, l)[1])

  forms = {"library: one exp(-|l|)": bernoulli.sample_and_log_prob,
           "jax.nn.sigmoid + jax.nn.softplus": _separate_transcendentals}
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

  medians = _interleaved_medians(calls, _ROUNDS.value)
  print(f"{_SAMPLES.value} samples x {sum(latent_sizes)} units, median of {_ROUNDS.value} interleaved rounds")
  for name, seconds in medians.items():
    print(f"  {name:52s} {seconds * 1e3:8.3f} ms")


if __name__ == "__main__":
  app.run(main)
