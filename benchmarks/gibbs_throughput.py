"""Gibbs sampling throughput of p* for the paper's 12-layer MNIST model.

  python -m benchmarks.gibbs_throughput [--num_chains=10] [--iterations=5] [--ms=100,1000]
      [--inner_k=10] [--json=benchmarks/results/gibbs_throughput.json]

Times `sampling.run_chains` (block Gibbs sweeps with importance resampling from M proposals
per conditional, i-SIR by default) on chains started from ancestral samples of p, and reports
chain-iterations (sweeps) per second. The model is freshly initialised: the throughput does not
depend on the values of the weights.
"""

from absl import app, flags
import jax

import bihm_jax as bh
from benchmarks import common
from bihm_jax import sampling

_NUM_CHAINS = flags.DEFINE_integer("num_chains", 10, "Chains run in parallel (vmapped).")
_ITERATIONS = flags.DEFINE_integer("iterations", 5, "Gibbs sweeps per timed call.")
_MS = flags.DEFINE_list("ms", ["100", "1000"], "Proposals M per conditional.")
_INNER_K = flags.DEFINE_integer("inner_k", 10, "Importance samples K of the p~*(x) estimate.")
_EXACT = flags.DEFINE_bool("exact", True, "i-SIR (True) or the paper's plain resampling.")
_JSON = flags.DEFINE_string("json", "benchmarks/results/gibbs_throughput.json", "Output JSON ('' for none).")


def main(argv):
  del argv
  params = bh.init_params(jax.random.PRNGKey(0), common.MNIST_SIZES)
  key = jax.random.PRNGKey(1)
  chains = sampling.chains_from_p(params, key, _NUM_CHAINS.value, _INNER_K.value)
  rows = []
  for m in map(int, _MS.value):
    seconds = common.median_seconds(
        lambda: sampling.run_chains(params, key, chains, _ITERATIONS.value, m, _INNER_K.value,
                                    exact=_EXACT.value), warmup=1, repeats=3)
    sweeps = _NUM_CHAINS.value * _ITERATIONS.value
    rows.append({"M": m, "inner_K": _INNER_K.value, "chains": _NUM_CHAINS.value,
                 "iterations": _ITERATIONS.value, "seconds": seconds,
                 "chain_iterations_per_s": sweeps / seconds})
  common.report(rows, [("M", "d"), ("inner_K", "d"), ("chains", "d"), ("iterations", "d"),
                       ("seconds", ".3f"), ("chain_iterations_per_s", ".2f")],
                _JSON.value, {"benchmark": "gibbs_throughput", "exact": _EXACT.value})


if __name__ == "__main__":
  app.run(main)
