"""Reproducing the paper's tables: architecture choice, result records, the table, the K curve.

The functions behind `experiments.reproduce`, `experiments.results_table` and
`experiments.k_curve` (see their docstrings for the command lines):

  reproduce(config, workdir)   trains every candidate architecture of the config, picks the best
                               on validation, evaluates it once on the test split and returns
                               the record stored as `results/<dataset>/<method>.json`
  table(records)               the README's markdown table, ours beside the paper's numbers
  k_curve(results_dir, dataset, max_k)   test likelihood estimates against K for the BiHM and
                               RWS models of a data set, as JSON and PNG
"""

import glob
import itertools
import json
import os
import platform
import subprocess
import time
from typing import Any

from absl import logging
import jax
import numpy as np

from bihm_jax import distributed, evaluation, training


def candidate_name(latent: tuple[int, ...], weight_decay: float = 0.0) -> str:
  """The run folder of a candidate: its latent layer sizes joined by '-', then "_wd<weight decay>"
  if it has one (e.g. "200-100-50-25-10_wd0.1")."""
  return "-".join(str(n) for n in latent) + (f"_wd{weight_decay:g}" if weight_decay else "")


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


TRAINED_BY = "trained_by.json"


def _epochs_done(run_dir: str) -> int:
  try:
    return int(training.load_checkpoint(run_dir, "latest")[2]["epoch"])
  except FileNotFoundError:
    return 0


def _log_training(run_dir: str, epoch: int, opened_by: str | None = None) -> list[dict[str, Any]]:
  """`run_dir/trained_by.json`, the code that trained each stretch of epochs, after closing the
  open stretch (if any) at `epoch` and, with `opened_by`, opening one by that commit from `epoch`.

  A run opens its stretch before training (`epoch`: its checkpoint's) and closes it after
  (`epoch`: its last). A run interrupted in between leaves it open; the next run closes it at the
  checkpoint it resumes from, the last one the interrupted run saved. Empty stretches are dropped.
  """
  path = os.path.join(run_dir, TRAINED_BY)
  history = []
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      history = json.load(f)
  if history and history[-1]["epochs"][1] is None:
    history[-1]["epochs"][1] = epoch
  if opened_by is not None:
    history.append({"commit": opened_by, "epochs": [epoch, None]})
  history = [stretch for stretch in history if stretch["epochs"][0] != stretch["epochs"][1]]
  os.makedirs(run_dir, exist_ok=True)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(history, f, indent=2)
  os.replace(path + ".tmp", path)
  return history


def train_candidates(config: training.Config, workdir: str) -> tuple[str, dict[str, dict[str, Any]]]:
  """Trains (or resumes) every candidate, each latent candidate with each weight-decay candidate,
  in `workdir/<candidate_name>` without reading the test split. Returns the commit of the code
  that trained and, per candidate, its layer sizes, epochs, best validation score and
  `trained_by`: which commit trained which epochs (runs resumed across commits have several)."""
  commit = _commit()   # of the code as loaded, before any training
  candidates = {}
  weight_decays = config.weight_decay_candidates or (config.weight_decay,)
  for latent, weight_decay in itertools.product(config.latent_candidates, weight_decays):
    run_config = config.copy_and_resolve_references()
    run_config.layer_sizes = (config.layer_sizes[0],) + tuple(latent)
    run_config.weight_decay = weight_decay
    run_config.test_at_end = False
    name = candidate_name(tuple(latent), weight_decay)
    run_dir = os.path.join(workdir, name)
    logging.info("Candidate %s", name)
    _log_training(run_dir, _epochs_done(run_dir), opened_by=commit)
    summary = training.train_and_evaluate(run_config, run_dir)
    candidates[name] = {"layer_sizes": list(run_config.layer_sizes),
                        **{key: summary[key] for key in ("epochs", "best_epoch", "valid_criterion",
                                                         "best_valid", "stopped_early", "train_seconds")},
                        "trained_by": _log_training(run_dir, summary["epochs"])}
  return commit, candidates


def reproduce(config: training.Config, workdir: str, command: str | None = None) -> dict[str, Any]:
  """Trains every candidate (`train_candidates`), tests the best on validation; returns the
  record (`command`: the command line that reproduces it, stored with it). The record's commit
  is the code that evaluated; each candidate's `trained_by` lists the code that trained it."""
  commit, candidates = train_candidates(config, workdir)
  chosen = max(candidates, key=lambda name: candidates[name]["best_valid"])
  test = training.evaluate_workdir(os.path.join(workdir, chosen))
  return {
      "dataset": config.dataset,
      "method": config.method,
      "test_nll": headline(config.method, test),
      "chosen": chosen,
      "workdir": os.path.join(workdir, chosen),
      "candidates": candidates,
      "test": test,
      "eval_seconds": test["seconds"],
      "train_seconds": sum(c["train_seconds"] for c in candidates.values()),
      "seed": config.seed,
      "config": training.load_config(os.path.join(workdir, chosen)).to_dict(),
      "commit": commit,
      "device": _device(),
      "command": command,
  }


def validation_report(candidates: dict[str, dict[str, Any]], results_path: str) -> str:
  """One line per candidate (validation criterion, best score and epoch, epochs trained), then the
  same for the chosen candidate of the record at `results_path`, if there is one."""
  lines = [f"{name}: {c['valid_criterion']} {c['best_valid']:.3f} at epoch {c['best_epoch']} of {c['epochs']}"
           for name, c in candidates.items()]
  if os.path.exists(results_path):
    with open(results_path, encoding="utf-8") as f:
      record = json.load(f)
    row = record["candidates"][record["chosen"]]
    lines.append(f"record {results_path} ({record['chosen']}): {row['valid_criterion']} "
                 f"{row['best_valid']:.3f} at epoch {row['best_epoch']} of {row['epochs']}")
  return "\n".join(lines)


START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"

# Test NLL in nats published in the BiHM paper (reference section 5): its BiHM and the RWS-SBN
# baseline it compares with.
PAPER = {
    "bihm": {"adult": 13.78, "connect4": 12.43, "dna": 86.49, "mushrooms": 9.40, "nips": 272.66,
             "ocr_letters": 27.10, "rcv1": 46.12, "web": 28.14, "binarized_mnist": 84.3},
    "rws": {"adult": 13.65, "connect4": 12.68, "dna": 90.63, "mushrooms": 9.90, "nips": 272.54,
            "ocr_letters": 29.99, "rcv1": 46.16, "web": 28.18, "binarized_mnist": 85.5},
}


def load_records(results_dir: str) -> list[dict[str, Any]]:
  """Every record under `results_dir/<dataset>/<method>.json`, sorted by dataset and method."""
  records = []
  for path in sorted(glob.glob(os.path.join(results_dir, "*", "*.json"))):
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
    if "test_nll" in record:
      records.append(record)
  return records


def _stopped(candidate: dict[str, Any], config: dict[str, Any]) -> str:
  if candidate["stopped_early"]:
    return f"early stop (best epoch {candidate['best_epoch']})"
  return f"epoch cap {config['num_epochs']} (best epoch {candidate['best_epoch']})"


def _short(commit: str) -> str:
  """A commit's first 12 hex digits, keeping a "-dirty" suffix."""
  return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _provenance(record: dict[str, Any]) -> str:
  """"commit C", or "trained at A (epochs 0-N), evaluated at C" when other code trained the model."""
  trained = record["candidates"][record["chosen"]].get("trained_by", [])
  if all(t["commit"] == record["commit"] for t in trained):
    return f"commit {_short(record['commit'])}"
  merged = []   # adjacent stretches by the same commit (a run resumed without a code change) as one
  for t in trained:
    if merged and merged[-1]["commit"] == t["commit"] and merged[-1]["epochs"][1] == t["epochs"][0]:
      merged[-1] = {"commit": t["commit"], "epochs": [merged[-1]["epochs"][0], t["epochs"][1]]}
    else:
      merged.append(t)
  stretches = ", ".join(f"{_short(t['commit'])} (epochs {t['epochs'][0]}-{t['epochs'][1]})" for t in merged)
  return f"trained at {stretches}, evaluated at {_short(record['commit'])}"


def table(records: list[dict[str, Any]]) -> str:
  """The markdown table of `records`, then the commands that produced them."""
  lines = ["| dataset | method | test NLL (ours) | K | paper | ours - paper | architecture | epochs | "
           "training time |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in records:
    nll, paper = r["test_nll"], PAPER[r["method"]].get(r["dataset"])
    chosen = r["candidates"][r["chosen"]]
    diff = "" if paper is None else f"{nll['nll'] - paper:+.2f}"
    lines.append(
        f"| {r['dataset']} | {r['method'].upper()} | {nll['nll']:.2f} +- {nll['se']:.2f} | {nll['k']} | "
        f"{'' if paper is None else f'{paper:.2f}'} | {diff} | {r['chosen']} (of {len(r['candidates'])}) | "
        f"{chosen['epochs']}, {_stopped(chosen, r['config'])} | {r['train_seconds'] / 60:.1f} min |")
  lines += ["", "```bash"] + [f"{r['command']}   # {_provenance(r)}" for r in records] + ["```"]
  return "\n".join(lines)


def replace_marked(text: str, block: str) -> str:
  """`text` with the lines between START and END replaced by `block`."""
  if START not in text or END not in text:
    raise ValueError(f"the markers {START} and {END} are missing")
  head, rest = text.split(START, 1)
  _, tail = rest.split(END, 1)
  return f"{head}{START}\n{block}\n{END}{tail}"


TOLERANCE_NATS = 0.1
METHODS = {"bihm": "log p*_K = 2 log p~*_K - log Z^2", "rws": "log p_K"}


def sample_counts(max_k: int) -> tuple[int, ...]:
  """1, 2, 5, 10, 20, 50, ... up to max_k."""
  return tuple(k for decade in range(int(round(np.log10(max_k))) + 1)
               for k in (10**decade, 2 * 10**decade, 5 * 10**decade) if k <= max_k)


def k_within(means: np.ndarray, ks: tuple[int, ...], tolerance: float = TOLERANCE_NATS) -> int:
  """The smallest K from which every estimate is within `tolerance` of the last one."""
  close = np.abs(means - means[-1]) <= tolerance
  first = len(ks) - int(np.argmin(close[::-1])) if not close.all() else 0
  return ks[first]


def _recorded_model(record: dict[str, Any]) -> tuple[training.Config, training.TrainState, int]:
  """`(config, state, epoch)` of the model a record evaluated: its workdir's best checkpoint."""
  config, state, loop = training.load_checkpoint(record["workdir"], "best")
  epoch = record["candidates"][record["chosen"]]["best_epoch"]
  if loop["best_epoch"] != epoch:
    raise ValueError(f"the {record['method']} record describes the model of epoch {epoch}, but the best "
                     f"checkpoint in {record['workdir']} is from epoch {loop['best_epoch']}: rerun "
                     "experiments.reproduce to evaluate it before its K curve")
  return config, state, epoch


def curve(record: dict[str, Any], x: np.ndarray, ks: tuple[int, ...], seed: int) -> dict[str, Any]:
  """One model's estimates at every K: mean and standard errors over the points of `x`."""
  config, state, epoch = _recorded_model(record)
  # The importance-sampling key of `evaluation.evaluate`: on the whole test split, the curve
  # passes through the record's estimates at its K values.
  _, is_key = jax.random.split(jax.random.PRNGKey(seed))
  curves = evaluation.batched_curves(state.eval_params, is_key, x, ks, config.eval_batch_size,
                                     desc=record["method"], progress_dir=os.path.join(record["workdir"], "eval"))
  values = curves.bound - record["test"]["log_z2"] if record["method"] == "bihm" else curves.log_px
  values = values.astype(np.float64)
  means = values.mean(axis=0)
  return {
      "estimate": METHODS[record["method"]],
      "mean": means.tolist(),
      "se": (values.std(axis=0, ddof=1) / np.sqrt(len(x))).tolist(),
      "gap_to_max_k_se": ((values - values[:, -1:]).std(axis=0, ddof=1) / np.sqrt(len(x))).tolist(),
      "k_within_tolerance": k_within(means, ks),
      "workdir": record["workdir"],
      "epoch": epoch,
      "resumed_seconds": curves.resumed_seconds,
  }


def log_z2_curve(record: dict[str, Any], max_samples: int, seed: int) -> dict[str, Any]:
  """The BiHM record's log Z^2 against its number of samples N = 1000, 10^4, ..., max_samples.

  One estimate per N from its own key (the estimates are independent, not nested), each with
  its delta-method standard error, beside the record's own estimate. An estimate whose terms
  are heavy-tailed climbs with N by more than its standard errors allow.
  """
  config, state, _ = _recorded_model(record)
  mesh = distributed.data_mesh()
  params = distributed.put(state.eval_params, distributed.replicated(mesh))
  samples = [10**e for e in range(3, int(round(np.log10(max_samples))) + 1)]
  estimates = [distributed.estimate_log_z2(params, jax.random.fold_in(jax.random.PRNGKey(seed), n), n,
                                           config.z_inner_k, mesh) for n in samples]
  return {"samples": samples, "mean": [float(m) for m, _ in estimates], "se": [float(s) for _, s in estimates],
          "z_inner_k": config.z_inner_k,
          "record": {name: record["test"][name] for name in ("log_z2", "log_z2_se", "z_samples")}}


def plot(result: dict[str, Any], path: str) -> None:
  """Left: each model's mean estimate against K (+- SE over points). Right: how far below its
  max-K value each model's estimate is (+- paired SE), with the tolerance as a dashed line."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

  ks = np.array(result["ks"])
  z = result.get("log_z2")
  fig, axes = plt.subplots(1, 3 if z else 2, figsize=(16.5 if z else 11, 4))
  left, right = axes[:2]
  for method, c in result["curves"].items():
    label = f"{method.upper()}: {c['estimate']}"
    left.errorbar(ks, c["mean"], yerr=c["se"], marker="o", ms=3, capsize=2, label=label)
    below = c["mean"][-1] - np.array(c["mean"])
    right.errorbar(ks[:-1], below[:-1], yerr=c["gap_to_max_k_se"][:-1], marker="o", ms=3, capsize=2,
                   label=f"{method.upper()}: within {result['tolerance_nats']} from K = {c['k_within_tolerance']}")
  right.axhline(result["tolerance_nats"], color="gray", linestyle="--")
  for ax in (left, right):
    ax.set_xscale("log")
    ax.set_xlabel("samples K")
    ax.legend()
  right.set_yscale("symlog", linthresh=0.01)
  left.set_ylabel("test log-likelihood estimate (nats)")
  right.set_ylabel(f"nats below the K = {ks[-1]} estimate")
  if z:
    axes[2].errorbar(z["samples"], z["mean"], yerr=z["se"], marker="o", ms=3, capsize=2,
                     label="independent estimates (+- delta-method SE)")
    axes[2].axhline(z["record"]["log_z2"], color="gray", linestyle="--",
                    label=f"the record's, N = {z['record']['z_samples']:.0e}")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("samples N")
    axes[2].set_ylabel("BiHM log Z^2")
    axes[2].set_title("log Z^2 against its samples (no test data)")
    axes[2].legend()
  fig.suptitle(f"{result['dataset']}: first {result['num_points']} test points (mean +- SE)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def k_curve(results_dir: str, dataset: str, max_k: int, num_points: int | None = None, seed: int = 0,
            command: str | None = None, max_z_samples: int = 0) -> dict[str, Any]:
  """Both models' curves on `dataset` (see `experiments.k_curve`), and with `max_z_samples` the
  BiHM's `log_z2_curve`; writes `results_dir/<dataset>/k_curve.{json,png}`."""
  folder = os.path.join(results_dir, dataset)
  records = {}
  for method in METHODS:
    path = os.path.join(folder, f"{method}.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"no record {path}: run experiments.reproduce for {method} first")
    with open(path, encoding="utf-8") as f:
      records[method] = json.load(f)
  config = training.load_config(records["bihm"]["workdir"])
  x = training.load_split(config, "test")[:num_points]
  ks = sample_counts(max_k)
  start = time.perf_counter()
  result = {"dataset": dataset, "num_points": len(x), "ks": list(ks), "tolerance_nats": TOLERANCE_NATS,
            "curves": {method: curve(record, x, ks, seed) for method, record in records.items()}}
  if max_z_samples:
    result["log_z2"] = log_z2_curve(records["bihm"], max_z_samples, seed)
  # With the time earlier, interrupted runs spent on passes this one resumed.
  resumed_seconds = sum(c["resumed_seconds"] for c in result["curves"].values())
  result["seconds"] = time.perf_counter() - start + resumed_seconds
  result["command"] = command
  with open(os.path.join(folder, "k_curve.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  plot(result, os.path.join(folder, "k_curve.png"))
  return result
