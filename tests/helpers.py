"""Shared test tools: tiny models with p far from q, a float64 NumPy reference of the
model written independently of the library, and statistical tests whose thresholds come
from the sample size."""

import contextlib

import jax
from jax.flatten_util import ravel_pytree
import numpy as np
from scipy import stats

import bihm_jax as bh

SIZES = [(6, 4, 3), (8, 5, 3, 2)]
# (layer_sizes, deterministic_layers): the sigmoid belief nets above, and one whose conditionals
# are tanh MLPs with two hidden layers.
ARCHITECTURES = [(sizes, 0) for sizes in SIZES] + [((6, 4, 3), 2)]

# Each statistical assertion fails by chance with probability about 1e-4 at most: means are
# checked to 4 standard errors (two-sided 6e-5), distributions by chi-square at p > 1e-4.
Z_SCORE = 4.0
MIN_PVALUE = 1e-4


def random_params(seed: int, sizes, deterministic_layers: int = 0, scale: float = 1.5):
  """Parameters with every weight and bias ~ N(0, scale^2): p and q then disagree clearly."""
  params = bh.init_params(jax.random.PRNGKey(seed), sizes, deterministic_layers=deterministic_layers)
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed + 1000), len(leaves))
  return jax.tree.unflatten(
      treedef, [scale * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves)])


def bits_to_index(bits) -> np.ndarray:
  """(N, n) 0/1 rows to integers, MSB first (the order of `bh.exact.all_binary`)."""
  bits = np.asarray(bits).astype(np.int64)
  return bits @ (1 << np.arange(bits.shape[-1] - 1, -1, -1))


def _np_logits(layer, inputs):
  for hidden in layer.get("hidden", ()):
    inputs = np.tanh(inputs @ hidden["w"] + hidden["b"])
  return inputs @ layer["w"] + layer["b"]


def _np_log_bernoulli(logits, bits):
  prob = 1.0 / (1.0 + np.exp(-logits))
  return np.sum(np.log(np.where(bits == 1, prob, 1.0 - prob)), axis=-1)


def reference_log_p(params, x, hs) -> float:
  """log p(x, h) in float64 NumPy, from probabilities (fine for moderate logits).

  x (..., D) and hs broadcast against each other; returns (...).
  """
  np_params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  states = [np.asarray(x, np.float64)] + [np.asarray(h, np.float64) for h in hs]
  total = _np_log_bernoulli(np_params["p"]["prior"], states[-1])
  for l, layer in enumerate(np_params["p"]["layers"]):
    total += _np_log_bernoulli(_np_logits(layer, states[l + 1]), states[l])
  return total


def reference_log_q(params, x, hs) -> float:
  """log q(h | x) in float64 NumPy, from probabilities; batched like `reference_log_p`."""
  np_params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  states = [np.asarray(x, np.float64)] + [np.asarray(h, np.float64) for h in hs]
  total = 0.0
  for l, layer in enumerate(np_params["q"]["layers"]):
    total += _np_log_bernoulli(_np_logits(layer, states[l]), states[l + 1])
  return total


def chi_square_pvalue(indices, probs) -> float:
  """Pearson goodness-of-fit p-value of integer draws against a discrete distribution.

  Cells whose expected count is below 5 are pooled into one cell so that the chi-square
  approximation holds.

  Args:
    indices: (N,) integers in [0, len(probs)).
    probs: (S,) probabilities summing to 1.
  """
  probs = np.asarray(probs, np.float64)
  probs = probs / probs.sum()
  counts = np.bincount(np.asarray(indices), minlength=len(probs)).astype(np.float64)
  expected = len(indices) * probs
  big = expected >= 5
  observed = np.append(counts[big], counts[~big].sum())
  expected = np.append(expected[big], expected[~big].sum())
  keep = expected > 0
  statistic = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
  return float(stats.chi2.sf(statistic, keep.sum() - 1))


def assert_mean_matches(values, target: float, what: str, sd: float | None = None):
  """Asserts |mean(values) - target| < Z_SCORE standard errors of the mean.

  The standard error is sd / sqrt(N), with `sd` the exact standard deviation of one value
  where known, else the sample standard deviation.
  """
  values = np.asarray(values, np.float64)
  sd = values.std(ddof=1) if sd is None else sd
  mean, stderr = values.mean(), sd / np.sqrt(len(values))
  z = Z_SCORE
  print(f"{what}: mean {mean:.6g}, exact {target:.6g}, z = {(mean - target) / stderr:+.2f}")
  assert abs(mean - target) < z * stderr, (
      f"{what}: mean {mean:.6g} vs exact {target:.6g}, |diff| = {abs(mean - target):.3g} "
      f"> {z:.2f} x stderr {stderr:.3g}")
  return mean, stderr


def importance_relative_variances(params, x) -> tuple[np.ndarray, np.ndarray]:
  """Exact Var_q[w] / E_q[w]^2 of one importance weight, for w = sqrt(p/q) and w = p/q.

  For w = sqrt(p(x,h) / q(h|x)) this is p(x) / p~*(x)^2 - 1 = exp(2 D_B) - 1; for w = p/q it
  is the chi-square divergence of q(h|x) from p(h|x). A K-sample log-mean of the weights then
  has standard error sqrt(relvar / K) (delta method). x: (B, D); returns two (B,) arrays.
  """
  log_p, log_q = jax.vmap(lambda row: bh.exact.log_joints(params, row))(x)
  log_p, log_q = np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)
  lse = lambda a: np.log(np.sum(np.exp(a), axis=-1))
  log_px, log_pt = lse(log_p), lse((log_p + log_q) / 2)
  return np.expm1(log_px - 2 * log_pt), np.expm1(lse(2 * log_p - log_q) - 2 * log_px)


def z2_term_moment(params, r: float) -> float:
  """Exact E[t^r] of one term t of the Z^2 estimator with inner_k = 1.

  t = sqrt(q(h|x) / p(x,h)) sqrt(p(x,h') / q(h'|x)), (x, h) ~ p, h' ~ q(h|x), so
  E[t^r] = sum_x (sum_h p^(1 - r/2) q^(r/2)) (sum_h' q^(1 - r/2) p^(r/2)).
  """
  xs = bh.exact.all_binary(bh.layer_sizes_of(params)[0])
  log_p, log_q = jax.vmap(lambda row: bh.exact.log_joints(params, row))(xs)
  log_p, log_q = np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)
  outer = np.sum(np.exp((1 - r / 2) * log_p + r / 2 * log_q), axis=1)
  inner = np.sum(np.exp((1 - r / 2) * log_q + r / 2 * log_p), axis=1)
  return float(np.sum(outer * inner))


@contextlib.contextmanager
def count_traces():
  """Counts jaxpr traces (i.e. jit cache misses) inside the block: `with count_traces() as n:`."""
  names = []

  def listener(name, *args, **kwargs):
    names.append(name)

  jax.monitoring.register_event_duration_secs_listener(listener)
  counter = type("Counter", (), {"value": property(
      lambda self: sum(n == "/jax/core/compile/jaxpr_trace_duration" for n in names))})()
  try:
    yield counter
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


def tree_vector(tree) -> np.ndarray:
  """All leaves of a pytree, flattened into one float64 NumPy vector."""
  return np.asarray(ravel_pytree(tree)[0], np.float64)


def bonferroni_z(num_tests: int) -> float:
  """Two-sided z threshold keeping the family-wise false-alarm rate of `num_tests` at 6e-5."""
  return float(stats.norm.isf(stats.norm.sf(Z_SCORE) / num_tests))
