"""Evaluates a trained model on the test split: bound, IS likelihood, log Z^2 and log p*.

  python -m experiments.evaluate --workdir=/tmp/bihm_mnist [--k=1,10,100,1000,10000] \
      [--z_samples=1000000] [--checkpoint=best]

For each K it reports the mean and standard error over test points of 2 log p~*_K(x), of
log p_K(x), of log p*(x) = 2 log p~*_K(x) - log Z^2 (standard error combining both terms) and
of the Bhattacharyya distance estimate (log p_K - 2 log p~*_K) / 2, and writes
`workdir/eval/summary.json` and the per-point values `workdir/eval/<name>_k<K>.npy`. An
interrupted evaluation resumes from the batches it saved in `workdir/eval/` when the same command
is rerun.
Defaults for K, the Z^2 samples and the batch size come from the training config. It runs over
all visible devices, and over several processes with the flags of `experiments.train`; only
process 0 writes.
"""

from absl import app, flags, logging

from bihm_jax import training
from experiments import distributed_flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a training run.")
_K = flags.DEFINE_list("k", None, "Sample counts K to report (default: the config's eval_ks).")
_Z_SAMPLES = flags.DEFINE_integer("z_samples", None, "Outer samples of the log Z^2 estimate "
                                  "(default: the config's z_samples).")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint to evaluate.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed of the estimates.")
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  distributed_flags.initialize()
  ks = None if _K.value is None else [int(k) for k in _K.value]
  summary = training.evaluate_workdir(_WORKDIR.value, ks=ks, z_samples=_Z_SAMPLES.value,
                                      checkpoint=_CHECKPOINT.value, seed=_SEED.value)
  logging.info("log Z^2 = %.4f +- %.4f (%d samples)", summary["log_z2"], summary["log_z2_se"],
               summary["z_samples"])
  header = f"{'K':>7} {'2 log p~*_K':>18} {'log p_K':>18} {'log p*':>18} {'D_B':>16}"
  rows = [header] + [
      f"{k:>7} " + " ".join(f"{r[name]['mean']:10.4f} +- {r[name]['se']:.3f}"
                            for name in ("two_log_ptilde", "log_px", "log_pstar", "bhattacharyya"))
      for k, r in summary["k"].items()]
  print("\n".join(rows))


if __name__ == "__main__":
  app.run(main)
