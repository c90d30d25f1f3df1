"""Evaluation throughput of the paper's 12-layer MNIST model: the bound at large K, and log Z^2.

  python -m benchmarks.eval_throughput [--ks=1000,10000] [--examples=100] [--batch_size=100]
      [--z_samples=1000000] [--json=benchmarks/results/eval_throughput.json]

Times the evaluation program's own path (`evaluation.batched_estimates`, chunked over K) on
the first `--examples` test points, and `estimate_log_z2` with `--z_samples` samples. Reports
examples/s (samples/s for Z^2), the achieved rate of essential matmul work
(`common.estimate_flops`) and its fraction of the float32 matmul peak measured in the same
run, and the process's peak resident memory, which chunking keeps bounded whatever K is.
The model is freshly initialised (throughput does not depend on the values of the weights).
"""

import resource

from absl import app, flags
import jax
import numpy as np

import bihm_jax as bh
from benchmarks import common
from bihm_jax import data, evaluation

_KS = flags.DEFINE_list("ks", ["1000", "10000"], "Samples K per test point.")
_EXAMPLES = flags.DEFINE_integer("examples", 100, "Test points evaluated at each K.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Test points per call.")
_Z_SAMPLES = flags.DEFINE_integer("z_samples", 1_000_000, "Samples of the log Z^2 estimate (0: skip).")
_JSON = flags.DEFINE_string("json", "benchmarks/results/eval_throughput.json", "Output JSON ('' for none).")


def _test_x(n: int) -> np.ndarray:
  try:
    return data.load("binarized_mnist", "test", source="local")[:n]
  except data.DataError:
    return (np.random.default_rng(0).random((n, 784)) < 0.13).astype(np.uint8)


def _peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv):
  del argv
  peak = common.matmul_peak_flops()
  print(f"float32 matmul peak: {peak / 1e9:.1f} GFLOP/s on {common.machine()['device']}")
  params = bh.init_params(jax.random.PRNGKey(0), common.MNIST_SIZES)
  x = _test_x(_EXAMPLES.value)
  key = jax.random.PRNGKey(1)
  rows = []
  for k in map(int, _KS.value):
    seconds = common.median_seconds(
        lambda: evaluation.batched_estimates(params, key, x, k, _BATCH_SIZE.value), warmup=1, repeats=3)
    flops = common.estimate_flops(common.MNIST_SIZES, len(x) * k)
    rows.append({"what": "bound", "K_or_N": k, "seconds": seconds, "rate": len(x) / seconds,
                 "rate_unit": "examples/s", "gflops": flops / seconds / 1e9,
                 "fraction_of_peak": flops / seconds / peak, "peak_rss_gib": _peak_rss_gib()})
  if _Z_SAMPLES.value:
    n = _Z_SAMPLES.value
    seconds = common.median_seconds(lambda: bh.estimate_log_z2(params, key, n), warmup=1, repeats=3)
    # Each sample: an ancestral pass of p (scoring itself), (x, h) scored under q, and one inner
    # importance sample h' ~ q(h|x) scored under p: twice the work of one importance sample.
    flops = 2 * common.estimate_flops(common.MNIST_SIZES, n)
    rows.append({"what": "log_z2", "K_or_N": n, "seconds": seconds, "rate": n / seconds,
                 "rate_unit": "samples/s", "gflops": flops / seconds / 1e9,
                 "fraction_of_peak": flops / seconds / peak, "peak_rss_gib": _peak_rss_gib()})
  common.report(rows, [("what", "s"), ("K_or_N", "d"), ("seconds", ".3f"), ("rate", ".1f"),
                       ("rate_unit", "s"), ("gflops", ".1f"), ("fraction_of_peak", ".3f"),
                       ("peak_rss_gib", ".2f")],
                _JSON.value, {"benchmark": "eval_throughput", "matmul_peak_gflops": peak / 1e9,
                              "examples": len(x), "batch_size": _BATCH_SIZE.value})


if __name__ == "__main__":
  app.run(main)
