"""One row of the results table: choose the architecture on validation, then test once.

  python -m experiments.reproduce --config=experiments/configs/dna.py [--config.method=rws] \
      --workdir=runs/dna/bihm --results=results/dna/bihm.json

For each latent architecture in `config.latent_candidates` it trains (or resumes) a run in
`workdir/<layers>` (e.g. `workdir/200-100-50-25-10`) with the config's other settings and
`test_at_end` off, so the test split is not read while choosing. The candidate with the best
validation score (`training.VALID_CRITERIA`: the bound for BiHM, log p_K for RWS) is evaluated
once on the test split as `experiments.evaluate` does (K = `config.eval_ks`, `config.z_samples`
samples of log Z^2), and `--results` receives the record: dataset, method, commit, command,
device, seed, the chosen config, each candidate's epochs, validation score and training time,
the test estimates with standard errors, and the headline test NLL with its standard error
(BiHM: -log p* at the largest K; RWS: -log p_K at the largest K). Rerunning the same command
resumes every run and re-evaluates; checkpoints stay in the workdir and are not committed.
"""

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from typing import Any

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from bihm_jax import training

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=False)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder holding one training run per candidate.")
_RESULTS = flags.DEFINE_string("results", None, "JSON file of the record (e.g. results/dna/bihm.json).")
flags.mark_flags_as_required(["config", "workdir", "results"])


def candidate_name(latent: tuple[int, ...]) -> str:
  """The run folder of a candidate: its latent layer sizes joined by '-'."""
  return "-".join(str(n) for n in latent)


def _commit() -> str:
  """HEAD of the repository this file is in, with "-dirty" when tracked files differ from it."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return head + ("-dirty" if dirty else "")


def _device() -> dict[str, Any]:
  device = jax.devices()[0]
  return {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count(),
          "cpu": platform.processor() or platform.machine(), "cpu_cores": len(os.sched_getaffinity(0))}


def headline(method: str, test: dict[str, Any]) -> dict[str, Any]:
  """The test NLL the paper reports for `method`, at the largest K of an evaluation summary."""
  k = max(test["k"], key=int)
  name = {"bihm": "log_pstar", "rws": "log_px"}[method]
  return {"nll": -test["k"][k][name]["mean"], "se": test["k"][k][name]["se"], "k": int(k), "estimate": name}


def reproduce(config: training.Config, workdir: str) -> dict[str, Any]:
  """Trains every candidate, tests the best on validation; returns the results record."""
  candidates = {}
  for latent in config.latent_candidates:
    run_config = config.copy_and_resolve_references()
    run_config.layer_sizes = (config.layer_sizes[0],) + tuple(latent)
    run_config.test_at_end = False
    name = candidate_name(tuple(latent))
    logging.info("Candidate %s", name)
    summary = training.train_and_evaluate(run_config, os.path.join(workdir, name))
    candidates[name] = {"layer_sizes": list(run_config.layer_sizes),
                        **{key: summary[key] for key in ("epochs", "best_epoch", "valid_criterion",
                                                         "best_valid", "stopped_early", "train_seconds")}}
  chosen = max(candidates, key=lambda name: candidates[name]["best_valid"])
  start = time.perf_counter()
  test = training.evaluate_workdir(os.path.join(workdir, chosen))
  return {
      "dataset": config.dataset,
      "method": config.method,
      "test_nll": headline(config.method, test),
      "chosen": chosen,
      "candidates": candidates,
      "test": test,
      "eval_seconds": time.perf_counter() - start,
      "train_seconds": sum(c["train_seconds"] for c in candidates.values()),
      "seed": config.seed,
      "config": training.load_config(os.path.join(workdir, chosen)).to_dict(),
      "commit": _commit(),
      "device": _device(),
      "command": shlex.join(["python", "-m", "experiments.reproduce"] + sys.argv[1:]),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  record = reproduce(_CONFIG.value, _WORKDIR.value)
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
