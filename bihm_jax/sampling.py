"""Samplers of the BiHM model distribution p*(x, h) and inpainting (reference section 4).

As a function of (x, h), with the self-consistent q(x) = p*(x),

  p*(x, h) ∝ p~*(x) sqrt(p(x, h) q(h | x)),   whose marginal is p*(x) = p~*(x)^2 / Z^2.

Every factor links neighbouring layers only, so given the even layers (x = h_0, h_2, ...) the odd
layers are independent, and vice versa. A block Gibbs sweep updates the odd layers, then the
even layers, from their conditionals (h_0 = x):

  0 < l < L:  ∝ sqrt(p(h_l|h_{l+1}) p(h_{l-1}|h_l) q(h_l|h_{l-1}) q(h_{l+1}|h_l))
  l = L:      ∝ sqrt(p(h_L) p(h_{L-1}|h_L) q(h_L|h_{L-1}))
  x:          ∝ p~*(x) sqrt(p(x|h_1) q(h_1|x))

Each conditional is sampled by importance resampling: M proposals from the mixture
(p(h_l|h_{l+1}) + q(h_l|h_{l-1})) / 2 (for the top layer p(h_L) takes the place of the p
conditional; x has no q conditional and is proposed from p(x|h_1) alone), weights
target / proposal, one picked with probability ∝ weight.

- `exact=True` (the default) is iterated SIR (Tjelmeland 2004; Andrieu, Lee & Vihola 2018): the
  current value joins the M proposals as candidate M + 1. The update is then exactly invariant
  for its conditional for any M >= 1 and any proposal of full support.
- `exact=False` is the paper's plain resampling of M fresh proposals: the update draws from the
  SIR approximation of the conditional, biased towards the proposal by O(1/M).

p~*(x) is estimated without bias by K importance samples from q(h | x)
(`estimators.log_ptilde_estimate`). The chain carries the estimate of its current x (`Chain.log_ptilde`) and reuses it until x moves:
this is a pseudo-marginal construction. On the extended target
  p̄(x, h, u) ∝ p^_K(x, u) prod_k q(u_k | x) sqrt(p(x, h) q(h | x)),
u the K inner samples and p^_K their estimate, the marginal of (x, h) is exactly p*(x, h); the x
update is i-SIR on (x, u) with proposal p(x|h_1) prod_k q(u_k|x), and the latent updates do not
involve u. So with `exact=True` the chain leaves p* exactly invariant for every inner K >= 1;
K only changes how well it mixes. With `exact=False` the fresh estimates are a second source of
finite-M bias.

Single-example functions (`gibbs_sweep`, `importance_resample`) are batched by the jit-compiled
`chains_from_p`, `chains_from_q`, `run_chains` and `importance_resampling_samples` (the last two
vmap chunks of chains to bound memory). Chain b draws iteration t from
`fold_in(split(key, B)[b], t)`, so running T iterations at once or in pieces
(`first_iteration`) gives the same chains.
"""

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bihm_jax import bernoulli, estimators, model

Params = model.Params


class Chain(NamedTuple):
  """The state of one chain (batched chains carry a leading axis on every leaf).

  Attributes:
    states: `(x, h_1, ..., h_L)`, float32 0/1 vectors of sizes (D,), (n_1,), ..., (n_L,).
    log_ptilde: () the K-sample estimate of log p~*(x) that belongs to the current x.
  """
  states: tuple[jax.Array, ...]
  log_ptilde: jax.Array


def _resample(key: jax.Array, propose: Callable[[jax.Array], Any], log_weights: Callable[[Any], jax.Array],
              current: Any, keep_current: bool) -> Any:
  """One importance-resampling pick among proposals (and the current value, for i-SIR).

  Args:
    key: PRNG key.
    propose: key -> pytree of M proposals, every leaf with a leading (M,) axis.
    log_weights: pytree of C candidates -> (C,) log(target / proposal), up to a constant.
    current: the current value, a pytree like one proposal.
    keep_current: make the current value candidate 0 (i-SIR).

  Returns:
    The picked candidate, a pytree like `current`.
  """
  propose_key, pick_key = jax.random.split(key)
  candidates = propose(propose_key)
  if keep_current:
    candidates = jax.tree.map(lambda now, new: jnp.concatenate([now[None], new]), current, candidates)
  index = jax.random.categorical(pick_key, log_weights(candidates))
  return jax.tree.map(lambda c: c[index], candidates)


def _update_latent(params: Params, key: jax.Array, states: tuple[jax.Array, ...], l: int, m: int,
                   keep_current: bool) -> jax.Array:
  """A draw of h_l (0 < l <= L) given its neighbours, proposals from the p/q mixture."""
  p_layers, q_layers = params["p"]["layers"], params["q"]["layers"]
  is_top = l == len(states) - 1
  below = states[l - 1]
  p_logits = params["p"]["prior"] if is_top else model.logits(p_layers[l], states[l + 1])
  q_logits = model.logits(q_layers[l - 1], below)

  def propose(key):
    choice_key, bits_key = jax.random.split(key)
    from_p = jax.random.bernoulli(choice_key, 0.5, (m, 1))
    return bernoulli.sample(bits_key, jnp.where(from_p, p_logits, q_logits))

  def log_weights(h):
    log_p_here, log_q_here = bernoulli.log_prob(p_logits, h), bernoulli.log_prob(q_logits, h)
    log_target = log_p_here + log_q_here + bernoulli.log_prob(model.logits(p_layers[l - 1], h), below)
    if not is_top:
      log_target += bernoulli.log_prob(model.logits(q_layers[l], h), states[l + 1])
    log_mixture = jnp.logaddexp(log_p_here, log_q_here) - math.log(2.0)
    return log_target / 2.0 - log_mixture

  return _resample(key, propose, log_weights, states[l], keep_current)


def _update_visible(params: Params, key: jax.Array, chain: Chain, mask: jax.Array | None, m: int,
                    inner_k: int, keep_current: bool) -> Chain:
  """A draw of (x, its p~* estimate) given h_1, proposals from p(x | h_1); `mask` clamps bits.

  Clamped bits are copied from the current x. Their factor of p(x | h_1) is the same for every
  candidate, so the full log p(x | h_1) serves as the proposal's log-density (the constant
  cancels when the weights are normalised).
  """
  x, h_1 = chain.states[0], chain.states[1]
  p_logits = model.logits(params["p"]["layers"][0], h_1)
  q_layer = params["q"]["layers"][0]

  def propose(key):
    bits_key, inner_key = jax.random.split(key)
    xs = bernoulli.sample(bits_key, jnp.broadcast_to(p_logits, (m,) + x.shape))
    if mask is not None:
      xs = jnp.where(mask, x, xs)
    log_pt = jax.vmap(estimators.log_ptilde_estimate, (None, 0, 0, None))(
        params, jax.random.split(inner_key, m), xs, inner_k)
    return xs, log_pt

  def log_weights(candidates):
    xs, log_pt = candidates
    # log p~* + (log p(x|h_1) + log q(h_1|x)) / 2 - log p(x|h_1)
    return log_pt + (bernoulli.log_prob(model.logits(q_layer, xs), h_1)
                     - bernoulli.log_prob(p_logits, xs)) / 2.0

  x, log_pt = _resample(key, propose, log_weights, (x, chain.log_ptilde), keep_current)
  return Chain((x,) + chain.states[1:], log_pt)


def gibbs_sweep(params: Params, key: jax.Array, chain: Chain, *, m: int, inner_k: int,
                exact: bool = True, mask: jax.Array | None = None) -> Chain:
  """One block Gibbs sweep of one chain: odd layers given even ones, then even layers given odd.

  Args:
    params: BiHM parameters.
    key: PRNG key.
    chain: the current state (no batch axis).
    m: proposals per conditional.
    inner_k: samples of each p~*(x) estimate of a proposed x.
    exact: i-SIR (keeps p* invariant) if True, the paper's plain resampling if False.
    mask: (D,) bool, True where x is observed and stays as it is (inpainting); None: all free.

  Returns:
    The next state.
  """
  num_layers = len(chain.states) - 1
  for l in list(range(1, num_layers + 1, 2)) + list(range(0, num_layers + 1, 2)):
    layer_key = jax.random.fold_in(key, l)
    if l == 0:
      chain = _update_visible(params, layer_key, chain, mask, m, inner_k, exact)
    else:
      h_l = _update_latent(params, layer_key, chain.states, l, m, exact)
      chain = chain._replace(states=chain.states[:l] + (h_l,) + chain.states[l + 1:])
  return chain


def _check_counts(**counts: int) -> None:
  for name, value in counts.items():
    if value < 1:
      raise ValueError(f"{name} must be >= 1, got {value}")


def _vmap_in_chunks(fn: Callable[..., Any], args: tuple[Any, ...], count: int, samples_per_item: int) -> Any:
  """`jax.vmap(fn)(*args)` over `count` items, in equal chunks of at most about
  `estimators.MAX_CHUNK_ELEMENTS` samples of h ~ q in flight (the last chunk padded)."""
  num_chunks = -(-count // max(1, estimators.MAX_CHUNK_ELEMENTS // samples_per_item))
  if num_chunks == 1:
    return jax.vmap(fn)(*args)
  chunk = -(-count // num_chunks)
  chunked = jax.tree.map(
      lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], num_chunks * chunk - count, axis=0)]).reshape(
          (num_chunks, chunk) + a.shape[1:]), args)
  out = jax.lax.map(lambda a: jax.vmap(fn)(*a), chunked)
  return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:])[:count], out)


@functools.partial(jax.jit, static_argnames=("num_chains", "inner_k"))
def chains_from_p(params: Params, key: jax.Array, num_chains: int, inner_k: int) -> Chain:
  """`num_chains` chains started at ancestral samples (x, h) ~ p, each with a fresh p~* estimate."""
  _check_counts(num_chains=num_chains, inner_k=inner_k)

  def one(key):
    sample_key, inner_key = jax.random.split(key)
    x, hs = model.sample_p(params, sample_key)
    return Chain((x,) + hs, estimators.log_ptilde_estimate(params, inner_key, x, inner_k))

  return jax.vmap(one)(jax.random.split(key, num_chains))


@functools.partial(jax.jit, static_argnames=("inner_k",))
def chains_from_q(params: Params, key: jax.Array, x: jax.Array, inner_k: int) -> Chain:
  """One chain per row of x (B, D), started at h ~ q(h | x), each with a fresh p~* estimate."""
  _check_counts(inner_k=inner_k)

  def one(key, x):
    sample_key, inner_key = jax.random.split(key)
    return Chain((x,) + model.sample_q(params, sample_key, x),
                 estimators.log_ptilde_estimate(params, inner_key, x, inner_k))

  return jax.vmap(one)(jax.random.split(key, x.shape[0]), x)


@functools.partial(jax.jit, static_argnames=("m", "inner_k", "exact"))
def run_chains(params: Params, key: jax.Array, chains: Chain, num_iterations: int | jax.Array,
               m: int, inner_k: int, *, exact: bool = True, mask: jax.Array | None = None,
               first_iteration: int | jax.Array = 0) -> Chain:
  """Runs B chains for `num_iterations` Gibbs sweeps (a `lax.fori_loop`, chains vmapped in chunks).

  The number of sweeps is traced, not static: compiling the sweep of a deep model takes tens of
  seconds, and a run recorded at several snapshot iterations calls this with several lengths.

  Args:
    params: BiHM parameters.
    key: PRNG key of the run; chain b, iteration t uses `fold_in(split(key, B)[b], t)`.
    chains: B chains (leading axis B), e.g. from `chains_from_p` or `chains_from_q`.
    num_iterations: number of sweeps.
    m, inner_k, exact: the arguments of `gibbs_sweep` (static).
    mask: (B, D) bool, True where x is observed (inpainting: the chains' x must hold the
      observed values there); None: sample all of x.
    first_iteration: number of the first sweep, to continue a run in pieces.

  Returns:
    The B chains after the sweeps.
  """
  _check_counts(m=m, inner_k=inner_k)
  num_chains = chains.log_ptilde.shape[0]

  def one(chain_key, chain, mask_b):
    def body(t, chain):
      return gibbs_sweep(params, jax.random.fold_in(chain_key, t), chain, m=m, inner_k=inner_k,
                         exact=exact, mask=mask_b)
    return jax.lax.fori_loop(first_iteration, first_iteration + num_iterations, body, chain)

  return _vmap_in_chunks(one, (jax.random.split(key, num_chains), chains, mask), num_chains, m * inner_k)


def importance_resample(params: Params, key: jax.Array, m: int, inner_k: int
                        ) -> tuple[jax.Array, model.Latents]:
  """One-shot importance resampling of p*: one of M draws (x, h) ~ p, picked with weight

    p~*(x) sqrt(q(h | x) / p(x, h))   (= p*(x, h) / p(x, h) up to a constant),

  p~*(x) replaced by its K-sample estimate. Exact as M -> infinity only.

  Returns:
    `(x, hs)` as for `model.sample_p`.
  """

  def propose(key):
    sample_key, inner_key = jax.random.split(key)
    xs, hss = jax.vmap(model.sample_p, (None, 0))(params, jax.random.split(sample_key, m))
    log_pt = jax.vmap(estimators.log_ptilde_estimate, (None, 0, 0, None))(
        params, jax.random.split(inner_key, m), xs, inner_k)
    return xs, hss, log_pt

  def log_weights(candidates):
    xs, hss, log_pt = candidates
    log_p = jax.vmap(model.log_p, (None, 0, 0))(params, xs, hss)
    log_q = jax.vmap(model.log_q, (None, 0, 0))(params, xs, hss)
    return log_pt + (log_q - log_p) / 2.0

  x, hs, _ = _resample(key, propose, log_weights, None, keep_current=False)
  return x, hs


@functools.partial(jax.jit, static_argnames=("num_samples", "m", "inner_k"))
def importance_resampling_samples(params: Params, key: jax.Array, num_samples: int, m: int,
                                  inner_k: int) -> tuple[jax.Array, model.Latents]:
  """`num_samples` independent draws of `importance_resample`: x (N, D) and latents (N, n_l)."""
  _check_counts(num_samples=num_samples, m=m, inner_k=inner_k)
  return _vmap_in_chunks(lambda k: importance_resample(params, k, m, inner_k),
                         (jax.random.split(key, num_samples),), num_samples, m * inner_k)
