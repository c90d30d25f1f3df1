"""Surrogate losses whose gradients are the BiHM and RWS updates (reference section 2).

The value of a surrogate is not a likelihood: each returns the K-sample estimates it saw in
`metrics` (means over the batch):
  bound   2 log p~*_K(x), the BiHM lower bound on log p*(x)
  log_px  log p_K(x), the importance-sampled likelihood of the top-down model
  ess     effective sample size 1 / sum_k w_k^2 of the method's normalised weights
"""

import math

import jax
import jax.numpy as jnp

from bihm_jax import estimators, model

Params = model.Params
sg = jax.lax.stop_gradient


def _per_example(params: Params, key: jax.Array, x: jax.Array, k: int):
  """log p(x, h^(k)) and log q(h^(k) | x) of K draws from q for each row of x: ((B, K), (B, K))."""

  def one(key_b, x_b):
    return estimators.importance_log_weights(params, estimators.sample_keys(key_b, 0, k), x_b)

  return jax.vmap(one)(jax.random.split(key, x.shape[0]), x)


def _metrics(log_p: jax.Array, log_q: jax.Array, weights: jax.Array, k: int) -> dict[str, jax.Array]:
  log_w = sg(log_p - log_q)
  return {
      "bound": jnp.mean(2.0 * (jax.nn.logsumexp(log_w / 2.0, axis=-1) - math.log(k))),
      "log_px": jnp.mean(jax.nn.logsumexp(log_w, axis=-1) - math.log(k)),
      "ess": jnp.mean(1.0 / jnp.sum(sg(weights) ** 2, axis=-1)),
  }


def bihm_loss(params: Params, key: jax.Array, x: jax.Array, k: int, *,
              baseline: bool = True) -> tuple[jax.Array, dict[str, jax.Array]]:
  """BiHM surrogate: its gradient estimates -grad mean_x 2 log p~*(x).

  With h^(k) ~ q(h | x) and w = softmax_k((log p(x,h^(k)) - log q(h^(k)|x)) / 2):

    loss = -mean_x [ sum_k sg(w_k) log p(x,h^(k)) + sum_k sg(w_k - b) log q(h^(k)|x) ]

  where b = 1/K (the original code's zero-mean baseline) or 0 with `baseline=False`.

  Args:
    params: BiHM parameters.
    key: PRNG key.
    x: (B, D) data.
    k: importance samples per data point.
    baseline: subtract the 1/K baseline in the q update.

  Returns:
    `(loss, metrics)`: scalar surrogate and the module's metrics dict.
  """
  log_p, log_q = _per_example(params, key, x, k)
  weights = sg(jax.nn.softmax((log_p - log_q) / 2.0, axis=-1))
  q_weights = weights - 1.0 / k if baseline else weights
  loss = -jnp.mean(jnp.sum(weights * log_p + q_weights * log_q, axis=-1))
  return loss, _metrics(log_p, log_q, weights, k)


def weight_penalty(params: Params) -> jax.Array:
  """Sum of the squares of every weight matrix of p and q (those of deterministic hidden layers
  included); biases and the top prior are left out.

  `l * weight_penalty(params)` added to a surrogate is the original code's `l2reg` penalty (with
  l = l2reg / batch size there, as its gradients are sums over the batch, not means): an L2 term
  inside the loss, so an adaptive optimizer rescales its gradient with the data's, unlike the
  decoupled `weight_decay` of the training config.
  """
  return sum(jnp.sum(jnp.square(affine["w"]))
             for net in ("p", "q") for layer in params[net]["layers"]
             for affine in [layer, *layer.get("hidden", ())])


def rws_loss(params: Params, key: jax.Array, x: jax.Array, k: int, *,
             sleep: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Reweighted wake-sleep surrogate (Bornschein & Bengio 2015), the paper's baseline.

  With h^(k) ~ q(h | x) and w = softmax_k(log p(x,h^(k)) - log q(h^(k)|x)):
    p (wake):   sum_k w_k grad log p(x, h^(k))        estimates grad log p(x)
    q (wake):   sum_k w_k grad log q(h^(k) | x)
    q (sleep):  grad log q(h | x) at (x, h) ~ p, one dream per data point; with
                `sleep=True` the q update is the mean of the wake and sleep updates.

  Args:
    params: BiHM parameters (RWS trains the same two networks).
    key: PRNG key.
    x: (B, D) data.
    k: importance samples per data point.
    sleep: add the sleep-phase q update.

  Returns:
    `(loss, metrics)` as for `bihm_loss`; metrics["ess"] uses the RWS weights.
  """
  wake_key, sleep_key = jax.random.split(key)
  log_p, log_q = _per_example(params, wake_key, x, k)
  weights = sg(jax.nn.softmax(log_p - log_q, axis=-1))
  wake_p = jnp.mean(jnp.sum(weights * log_p, axis=-1))
  wake_q = jnp.mean(jnp.sum(weights * log_q, axis=-1))
  if sleep:
    dreams_x, dreams_h = jax.vmap(model.sample_p, (None, 0))(
        params, jax.random.split(sleep_key, x.shape[0]))
    sleep_q = jnp.mean(jax.vmap(model.log_q, (None, 0, 0))(params, dreams_x, dreams_h))
    q_objective = (wake_q + sleep_q) / 2.0
  else:
    q_objective = wake_q
  return -(wake_p + q_objective), _metrics(log_p, log_q, weights, k)
