"""One row of the results table: choose the candidate on validation, then test it once.

  python -m experiments.reproduce --config=experiments/configs/dna.py [--config.method=rws] \
      --workdir=runs/dna/bihm --results=results/dna/bihm.json

For each latent architecture in `config.latent_candidates` and each weight decay in
`config.weight_decay_candidates` (empty: `config.weight_decay`) it trains (or resumes) a run in
`workdir/<layers>[_wd<weight decay>]` (e.g. `workdir/200-100-50-25-10`, `workdir/100-50-25-10_wd0.1`)
with the config's other settings and `test_at_end` off, so the test split is not read while
choosing. The candidate with the best validation score (`training.valid_criterion`: by default the
bound for BiHM, log p_K for RWS) is evaluated once on the test split as `experiments.evaluate` does (K = `config.eval_ks`, `config.z_samples`
samples of log Z^2), and `--results` receives the record: dataset, method, commit, command,
device, seed, the chosen config and workdir, each candidate's epochs, validation score and training time,
the test estimates with standard errors, and the headline test NLL with its standard error
(BiHM: -log p* at the largest K; RWS: -log p_K at the largest K). Rerunning the same command
resumes every run and re-evaluates; checkpoints stay in the workdir and are not committed.

`--validate_only` stops before the test split: it trains (or resumes) the candidates, prints each
one's validation score beside that of the record already at `--results` (if any), and writes
nothing. Exploratory runs use it, so that the test split is read only for a model that is to be a
row: then the same command without the flag resumes the finished runs and evaluates.
"""

import json
import os
import shlex
import sys

from absl import app, flags
from ml_collections import config_flags

from experiments import results

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=False)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder holding one training run per candidate.")
_RESULTS = flags.DEFINE_string("results", None, "JSON file of the record (e.g. results/dna/bihm.json).")
_VALIDATE_ONLY = flags.DEFINE_bool("validate_only", False, "Train and validate the candidates, print "
                                   "their validation scores, and neither read the test split nor write --results.")
flags.mark_flags_as_required(["config", "workdir", "results"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _VALIDATE_ONLY.value:
    _, candidates = results.train_candidates(_CONFIG.value, _WORKDIR.value)
    print(results.validation_report(candidates, _RESULTS.value))
    return
  record = results.reproduce(_CONFIG.value, _WORKDIR.value,
                             command=shlex.join(["python", "-m", "experiments.reproduce"] + sys.argv[1:]))
  os.makedirs(os.path.dirname(os.path.abspath(_RESULTS.value)), exist_ok=True)
  partial = _RESULTS.value + ".tmp"
  with open(partial, "w", encoding="utf-8") as f:
    json.dump(record, f, indent=2)
  os.replace(partial, _RESULTS.value)
  nll = record["test_nll"]
  print(f"{record['dataset']} {record['method']} ({record['chosen']}): test NLL {nll['nll']:.2f} +- "
        f"{nll['se']:.2f} nats ({nll['estimate']}, K = {nll['k']})")


if __name__ == "__main__":
  app.run(main)
