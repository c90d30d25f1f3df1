"""Samplers of p* against exact enumeration (reference section 4).

Every distribution test draws one x from each of N independent chains (or one-shot samplers),
so the N draws are independent, and checks them against the exact p*(x) two ways:
- Pearson chi-square at p > helpers.MIN_PVALUE (the sharper test), and
- total variation below `_tv_bound`: E[TV] <= 0.5 sum_i sqrt(p_i (1 - p_i) / N) (Jensen), and TV,
  as a function of N independent draws each moving it by at most 1/N, exceeds its mean by t
  with probability <= exp(-2 N t^2) (McDiarmid), hence the added sqrt(log(1 / delta) / (2 N)).
Negative controls show that the same tests reject samples of p, and the paper's plain resampling
with few proposals, on the same model.

The tiny model's p(x) is 0.14 in total variation from p*(x). The chains start from ancestral
samples of p, so passing means they forgot that start: with N = 20000 chains, M = 1 or 2, the
i-SIR chain is at the noise floor (TV about 0.02) after 5 sweeps and stays there through 40, so
BURN_IN = 10 sweeps leaves a margin.

The chains use inner K = 1 on purpose: the i-SIR chain carries the p~* estimate of its current x
(a pseudo-marginal chain, see `bihm_jax.sampling`), which makes it exactly p*-invariant for every
K, so the smallest K is the most demanding check of that claim.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bihm_jax as bh
from bihm_jax import estimators, exact, sampling
from tests import helpers

NUM_CHAINS = 10_000
BURN_IN = 10
DELTA = 1e-4


@pytest.fixture(scope="module")
def tiny():
  """(params, exact p*(x) over the 64 x in all_binary order, exact p(x))."""
  params = helpers.random_params(0, (6, 4, 3), scale=1.0)
  xs = exact.all_binary(6)
  return (params, _normalised(exact.log_pstar(params, xs)), _normalised(exact.log_p_marginal(params, xs)))


def _normalised(log_probs) -> np.ndarray:
  probs = np.exp(np.asarray(log_probs, np.float64))
  return probs / probs.sum()


def _tv(indices, probs) -> float:
  freqs = np.bincount(indices, minlength=len(probs)) / len(indices)
  return 0.5 * float(np.abs(freqs - probs).sum())


def _tv_bound(probs, n: int, delta: float = DELTA) -> float:
  """TV of n independent draws of `probs` from `probs` stays below this with probability 1 - delta."""
  return 0.5 * float(np.sum(np.sqrt(probs * (1 - probs) / n))) + math.sqrt(math.log(1 / delta) / (2 * n))


def _check(what: str, indices, probs, matches: bool) -> float:
  """Asserts that the draws pass (`matches`) or fail both tests against `probs`; returns the TV."""
  tv, bound = _tv(indices, probs), _tv_bound(probs, len(indices))
  pvalue = helpers.chi_square_pvalue(indices, probs)
  print(f"{what}: TV {tv:.4f} (bound {bound:.4f}), chi-square p = {pvalue:.3g}")
  if matches:
    assert tv < bound and pvalue > helpers.MIN_PVALUE, (what, tv, bound, pvalue)
  else:
    assert tv > bound and pvalue < helpers.MIN_PVALUE, (what, tv, bound, pvalue)
  return tv


def _gibbs_x(params, seed: int, m: int, exact_update: bool = True, inner_k: int = 1) -> np.ndarray:
  key = jax.random.PRNGKey(seed)
  chains = sampling.chains_from_p(params, key, NUM_CHAINS, inner_k)
  chains = sampling.run_chains(params, jax.random.fold_in(key, 1), chains, BURN_IN, m, inner_k,
                               exact=exact_update)
  return helpers.bits_to_index(chains.states[0])


def test_ancestral_samples_of_p_fail_the_test(tiny):
  params, pstar, p = tiny
  x, _ = jax.vmap(bh.sample_p, (None, 0))(params, jax.random.split(jax.random.PRNGKey(0), NUM_CHAINS))
  _check("ancestral p vs p*", helpers.bits_to_index(x), pstar, matches=False)
  _check("ancestral p vs p", helpers.bits_to_index(x), p, matches=True)


@pytest.mark.parametrize("m", [2, 32])
def test_isir_gibbs_chains_sample_pstar(tiny, m):
  params, pstar, _ = tiny
  _check(f"i-SIR Gibbs, M={m}, K=1", _gibbs_x(params, seed=m, m=m), pstar, matches=True)


def test_isir_gibbs_on_a_deeper_model():
  """Three latent layers: two middle layers, odd and even blocks both hold latents."""
  params = helpers.random_params(1, (8, 5, 3, 2), scale=1.0)
  xs = exact.all_binary(8)
  pstar = _normalised(exact.log_pstar(params, xs))
  assert _tv_bound(pstar, NUM_CHAINS) < 0.5 * np.abs(pstar - _normalised(exact.log_p_marginal(params, xs))).sum()
  _check("i-SIR Gibbs, (8, 5, 3, 2), M=2, K=1", _gibbs_x(params, seed=7, m=2), pstar, matches=True)


def test_isir_gibbs_with_deterministic_layers():
  """Conditionals that are tanh MLPs (two hidden layers each): the chain still samples p*."""
  params = helpers.random_params(2, (6, 4, 3), 2, scale=1.0)
  xs = exact.all_binary(6)
  pstar = _normalised(exact.log_pstar(params, xs))
  assert _tv_bound(pstar, NUM_CHAINS) < 0.5 * np.abs(pstar - _normalised(exact.log_p_marginal(params, xs))).sum()
  _check("i-SIR Gibbs, (6, 4, 3) with 2 tanh layers, M=2, K=1", _gibbs_x(params, seed=9, m=2), pstar, matches=True)


def test_plain_resampling_is_biased_for_small_m(tiny):
  """The paper's update draws from the SIR approximation of each conditional: with M = 2 its
  chain is visibly off p* (TV about 0.07 where i-SIR is at the noise floor)."""
  params, pstar, _ = tiny
  _check("plain SIR Gibbs, M=2, K=1", _gibbs_x(params, seed=3, m=2, exact_update=False), pstar, matches=False)


def test_inpainting_samples_the_exact_conditional(tiny):
  """Half the chains observe x_0..x_2 = (1, 0, 1), half observe x_4, x_5 = (0, 1); the free bits
  must follow p*(x_free | x_obs), which the same test tells apart from p(x_free | x_obs)."""
  params, pstar, p = tiny
  xs = np.asarray(exact.all_binary(6))
  half = NUM_CHAINS // 2
  cases = [(np.array([1, 1, 1, 0, 0, 0], bool), np.array([1, 0, 1, 0, 0, 0], np.float32)),
           (np.array([0, 0, 0, 0, 1, 1], bool), np.array([0, 0, 0, 0, 0, 1], np.float32))]
  mask = np.repeat(np.stack([c[0] for c in cases]), half, axis=0)
  observed = np.repeat(np.stack([c[1] for c in cases]), half, axis=0)
  key = jax.random.PRNGKey(5)
  starts = sampling.chains_from_p(params, key, NUM_CHAINS, 1).states[0]
  chains = sampling.chains_from_q(params, jax.random.fold_in(key, 1), jnp.where(mask, observed, starts), 1)
  chains = sampling.run_chains(params, jax.random.fold_in(key, 2), chains, BURN_IN, 2, 1, mask=mask)
  x = np.asarray(chains.states[0])
  np.testing.assert_array_equal(x[mask], observed[mask])
  for i, (case_mask, case_observed) in enumerate(cases):
    consistent = np.all(xs[:, case_mask] == case_observed[case_mask], axis=1)
    free = x[i * half:(i + 1) * half][:, ~case_mask]
    indices = helpers.bits_to_index(free)   # the consistent x, in all_binary order, are ordered by free bits
    _check(f"inpainting case {i} vs p*(x_free | x_obs)", indices, pstar[consistent] / pstar[consistent].sum(),
           matches=True)
    _check(f"inpainting case {i} vs p(x_free | x_obs)", indices, p[consistent] / p[consistent].sum(),
           matches=False)


@pytest.mark.parametrize("m, matches", [(1, False), (256, True)])
def test_one_shot_importance_resampling(tiny, m, matches):
  """With M = 1 the sampler returns draws of p; with many proposals its O(1/M) bias drops below
  what N draws can see."""
  params, pstar, _ = tiny
  x, _ = sampling.importance_resampling_samples(params, jax.random.PRNGKey(m), NUM_CHAINS, m, 1)
  _check(f"one-shot importance resampling, M={m}, K=1", helpers.bits_to_index(x), pstar, matches=matches)


def test_runs_in_pieces_equal_one_run_without_recompiling(tiny):
  params, _, _ = tiny
  key = jax.random.PRNGKey(0)
  chains = sampling.chains_from_p(params, key, NUM_CHAINS, 1)
  whole = sampling.run_chains(params, key, chains, 5, 2, 1, first_iteration=0)
  with helpers.count_traces() as traces:
    part = sampling.run_chains(params, key, chains, 2, 2, 1, first_iteration=0)
    part = sampling.run_chains(params, key, part, 3, 2, 1, first_iteration=2)
  assert traces.value == 0
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(part)):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(whole.states[0], chains.states[0])


def test_invalid_counts(tiny):
  params, _, _ = tiny
  chains = sampling.chains_from_p(params, jax.random.PRNGKey(0), NUM_CHAINS, 1)
  with pytest.raises(ValueError, match="m must be >= 1, got 0"):
    sampling.run_chains(params, jax.random.PRNGKey(0), chains, 1, 0, 1)
  with pytest.raises(ValueError, match="inner_k must be >= 1, got 0"):
    sampling.chains_from_p(params, jax.random.PRNGKey(0), 2, 0)


def test_chunks_of_chains_give_what_one_vmap_gives():
  xs = jnp.arange(10.0)
  fn = lambda a, b: (2 * a, {"sum": a + b})
  # At most 3 items per chunk: 4 chunks of 3, the last padded with 2 copies of item 9.
  chunked = sampling._vmap_in_chunks(fn, (xs, xs**2), 10, estimators.MAX_CHUNK_ELEMENTS // 3)
  for a, b in zip(jax.tree.leaves(chunked), jax.tree.leaves(jax.vmap(fn)(xs, xs**2))):
    np.testing.assert_array_equal(a, b)
