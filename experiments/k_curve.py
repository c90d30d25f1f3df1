"""The paper's estimation-efficiency claim: test likelihood estimate against the number of samples K.

  python -m experiments.k_curve --dataset=dna [--results_dir=results] [--max_k=100000] \
      [--num_points=1186] [--max_z_samples=10000000]

Reads the records `experiments.reproduce` wrote for BiHM and RWS on `--dataset`
(`results/<dataset>/{bihm,rws}.json`), reloads each chosen model from its workdir and estimates,
from one pass of max_k importance samples per test point (nested in K), BiHM's
log p*_K(x) = 2 log p~*_K(x) - log Z^2 (log Z^2 from its record) and RWS's log p_K(x) at
K = 1, 2, 5, 10, ..., max_k, on the first `--num_points` test points. It writes
`results/<dataset>/k_curve.json` (means, standard errors over points (BiHM's constant log Z^2
has its own in the record), the paired standard error
of the distance to the max_k value, and for each model the smallest K whose estimate, and every
larger K's, is within 0.1 nats of the max_k value; its workdir and epoch) and
`results/<dataset>/k_curve.png`. A record whose epoch is not its workdir's best checkpoint (a run
resumed but not yet re-evaluated) is refused.

The BiHM estimate also rests on log Z^2, estimated once per model. With `--max_z_samples=N` the
program re-estimates it from 1000, 10^4, ..., N samples (independent estimates, each with its
standard error) beside the record's, as a check that the record's sample count suffices: they go
to `log_z2` in the JSON and to a third panel of the PNG.
"""

import shlex
import sys

from absl import app, flags

from experiments import results

_DATASET = flags.DEFINE_string("dataset", None, "Data set whose BiHM and RWS records to use.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", "results", "Folder of the records.")
_MAX_K = flags.DEFINE_integer("max_k", 100_000, "Largest K (a power of 10).")
_NUM_POINTS = flags.DEFINE_integer("num_points", None, "Test points used: the first N (default: all).")
_MAX_Z_SAMPLES = flags.DEFINE_integer("max_z_samples", 0, "With N > 0, also BiHM's log Z^2 from 1000, 10^4, "
                                      "..., N samples (a power of 10), one independent estimate each.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed of the importance samples.")
flags.mark_flag_as_required("dataset")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  result = results.k_curve(_RESULTS_DIR.value, _DATASET.value, _MAX_K.value, _NUM_POINTS.value, _SEED.value,
                           command=shlex.join(["python", "-m", "experiments.k_curve"] + sys.argv[1:]),
                           max_z_samples=_MAX_Z_SAMPLES.value)
  ks = result["ks"]
  print(f"{'K':>7} " + " ".join(f"{m:>24}" for m in result["curves"]))
  for i, k in enumerate(ks):
    print(f"{k:>7} " + " ".join(f"{c['mean'][i]:12.3f} +- {c['se'][i]:.3f}   " for c in result["curves"].values()))
  for method, c in result["curves"].items():
    print(f"{method}: within {results.TOLERANCE_NATS} nats of K = {ks[-1]} from K = {c['k_within_tolerance']}")
  if "log_z2" in result:
    z = result["log_z2"]
    print(f"BiHM log Z^2 (record: {z['record']['log_z2']:.4f} +- {z['record']['log_z2_se']:.4f}, "
          f"N = {z['record']['z_samples']})")
    for n, mean, se in zip(z["samples"], z["mean"], z["se"]):
      print(f"{n:>9} {mean:10.4f} +- {se:.4f}")
  print(f"{result['seconds']:.0f} s")


if __name__ == "__main__":
  app.run(main)
