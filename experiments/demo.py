"""A short library demo: train a small BiHM on data drawn from a known random SBN.

  python -m experiments.demo [--steps=300] [--k=10]

Prints the training bound as it improves, then compares the K-sample estimates of the
trained model with the exact values that `bihm_jax.exact` computes by enumeration.
"""

from absl import app, flags
import jax
import jax.numpy as jnp
import optax

import bihm_jax as bh

_STEPS = flags.DEFINE_integer("steps", 300, "Adam steps.")
_K = flags.DEFINE_integer("k", 10, "Importance samples per data point during training.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")


def main(argv):
  del argv
  sizes = (8, 5, 3)
  data_key, init_key, train_key, eval_key = jax.random.split(jax.random.PRNGKey(_SEED.value), 4)
  teacher = bh.init_params(data_key, sizes, weight_init=jax.nn.initializers.normal(2.0), bias_init=0.0)
  x = jax.vmap(bh.sample_p, (None, 0))(teacher, jax.random.split(data_key, 1000))[0]

  params = bh.init_params(init_key, sizes)
  optimizer = optax.adam(3e-2)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, key):
    (_, metrics), grads = jax.value_and_grad(bh.bihm_loss, has_aux=True)(params, key, x, _K.value)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, metrics

  for i, key in enumerate(jax.random.split(train_key, _STEPS.value)):
    params, opt_state, metrics = step(params, opt_state, key)
    if i % 50 == 0 or i == _STEPS.value - 1:
      print(f"step {i:4d}  bound {metrics['bound']:.4f}  log p_K {metrics['log_px']:.4f}  ess {metrics['ess']:.2f}")

  print(f"exact mean log p(x) of the data under the SBN that drew it: "
        f"{jnp.mean(bh.exact.log_p_marginal(teacher, x)):.4f}")
  print(f"{'':28s}{'K-sample estimate':>20s}{'exact':>10s}")
  for k in (1, 10, 100):
    bound = jnp.mean(bh.log_ptilde_bound(params, eval_key, x, k))
    print(f"mean 2 log p~*(x), K={k:<6d}{bound:20.4f}{jnp.mean(2 * bh.exact.log_ptilde(params, x)):10.4f}")
  log_z2, stderr = bh.estimate_log_z2(params, eval_key, 100_000)
  print(f"log Z^2, 10^5 samples       {log_z2:14.4f} +- {stderr:.4f}{bh.exact.log_z2(params):10.4f}")
  print(f"mean log p*(x)              {jnp.mean(bh.log_ptilde_bound(params, eval_key, x, 100)) - log_z2:20.4f}"
        f"{jnp.mean(bh.exact.log_pstar(params, x)):10.4f}")


if __name__ == "__main__":
  app.run(main)
