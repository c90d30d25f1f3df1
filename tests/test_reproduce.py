"""The reproduction programs on the tiny synthetic model: selection, record, table, K curve."""

import json
import os

import numpy as np
import pytest

from bihm_jax import exact, training
from experiments import results
from experiments.configs import synthetic
from tests import helpers


def tiny_config(method):
  config = synthetic.get_config()
  config.update({"method": method, "num_epochs": 3, "valid_k": 10, "eval_ks": (1, 10, 100),
                 "z_samples": 2000, "latent_candidates": ((5, 3), (2,))})
  return config


@pytest.fixture(scope="module")
def records(tmp_path_factory):
  """{method: record} of both methods, written as results/synthetic/<method>.json."""
  root = tmp_path_factory.mktemp("reproduce")
  out = {}
  for method in ("bihm", "rws"):
    record = results.reproduce(tiny_config(method), str(root / "runs" / method), command=f"run {method}")
    os.makedirs(root / "results" / "synthetic", exist_ok=True)
    with open(root / "results" / "synthetic" / f"{method}.json", "w", encoding="utf-8") as f:
      json.dump(record, f)
    out[method] = record
  out["results_dir"] = str(root / "results")
  return out


def test_the_best_candidate_on_validation_is_tested_once(records, monkeypatch):
  for method, criterion in training.VALID_CRITERIA.items():
    record = records[method]
    scores = {name: c["best_valid"] for name, c in record["candidates"].items()}
    assert set(scores) == {"5-3", "2"}
    assert all(c["valid_criterion"] == criterion for c in record["candidates"].values())
    assert record["chosen"] == max(scores, key=scores.get)
    assert len(set(scores.values())) == 2   # the choice is not a tie
    assert record["config"]["layer_sizes"] == record["candidates"][record["chosen"]]["layer_sizes"]
    estimate = {"bihm": "log_pstar", "rws": "log_px"}[method]
    assert record["test_nll"] == {"nll": -record["test"]["k"]["100"][estimate]["mean"],
                                  "se": record["test"]["k"]["100"][estimate]["se"], "k": 100,
                                  "estimate": estimate}
    assert record["train_seconds"] == pytest.approx(sum(c["train_seconds"] for c in record["candidates"].values()))
    for field in ("commit", "device", "seed", "command", "eval_seconds"):
      assert field in record, field
    for candidate in record["candidates"].values():
      assert candidate["trained_by"] == [{"commit": record["commit"], "epochs": [0, 3]}]


def test_every_latent_candidate_is_trained_with_every_weight_decay_candidate(tmp_path):
  config = tiny_config("bihm")
  config.update({"num_epochs": 1, "eval_ks": (1,), "z_samples": 10, "latent_candidates": ((2,), (3,)),
                 "weight_decay_candidates": (0.0, 0.5)})
  record = results.reproduce(config, str(tmp_path))
  assert set(record["candidates"]) == {"2", "2_wd0.5", "3", "3_wd0.5"}
  for name in record["candidates"]:
    saved = training.load_config(str(tmp_path / name))
    assert saved.weight_decay == (0.5 if name.endswith("_wd0.5") else 0.0)
    assert tuple(saved.layer_sizes[1:]) == (int(name.split("_")[0]),)
  assert record["chosen"] == max(record["candidates"], key=lambda n: record["candidates"][n]["best_valid"])
  assert record["config"]["weight_decay"] == training.load_config(record["workdir"]).weight_decay


def one_epoch_by_commit_a(workdir, monkeypatch):
  """The config of a one-candidate run that commit "a" * 40 trained for one epoch in `workdir`;
  the code is then at commit "b" * 40."""
  config = tiny_config("bihm")
  config.update({"num_epochs": 1, "eval_ks": (1,), "z_samples": 10, "latent_candidates": ((2,),)})
  monkeypatch.setattr(results, "_commit", lambda: "a" * 40)
  results.reproduce(config, str(workdir))
  monkeypatch.setattr(results, "_commit", lambda: "b" * 40)
  return config


def test_the_record_says_which_code_trained_and_which_evaluated(tmp_path, monkeypatch):
  config = one_epoch_by_commit_a(tmp_path, monkeypatch)   # now at commit b
  evaluated = results.reproduce(config, str(tmp_path))   # nothing left to train: evaluates only
  assert evaluated["commit"] == "b" * 40
  assert evaluated["candidates"]["2"]["trained_by"] == [{"commit": "a" * 40, "epochs": [0, 1]}]
  assert results._provenance(evaluated) == f"trained at {'a' * 12} (epochs 0-1), evaluated at {'b' * 12}"
  config.num_epochs = 2
  resumed = results.reproduce(config, str(tmp_path))   # one more epoch, by the new code
  assert resumed["candidates"]["2"]["trained_by"] == [{"commit": "a" * 40, "epochs": [0, 1]},
                                                     {"commit": "b" * 40, "epochs": [1, 2]}]
  monkeypatch.setattr(results, "_commit", lambda: "c" * 40)
  config.num_epochs = 3
  results.reproduce(config, str(tmp_path))
  config.num_epochs = 4
  again = results.reproduce(config, str(tmp_path))   # resumed twice by the same code
  assert len(again["candidates"]["2"]["trained_by"]) == 4
  assert results._provenance(again) == f"trained at {'a' * 12} (epochs 0-1), {'b' * 12} (epochs 1-2), " \
                                       f"{'c' * 12} (epochs 2-4), evaluated at {'c' * 12}"
  # Code with uncommitted changes stays marked as such in the table.
  again["candidates"]["2"]["trained_by"][0]["commit"] = "a" * 40 + "-dirty"
  assert results._provenance(again).startswith(f"trained at {'a' * 12}-dirty (epochs 0-1), {'b' * 12} ")


def test_epochs_of_an_interrupted_run_keep_their_commit(tmp_path, monkeypatch):
  config = one_epoch_by_commit_a(tmp_path, monkeypatch)   # now at commit b
  train_and_evaluate = training.train_and_evaluate

  def killed_after_training(run_config, run_dir):
    train_and_evaluate(run_config, run_dir)   # saves the checkpoint of epoch 2, then the process dies
    raise KeyboardInterrupt

  monkeypatch.setattr(training, "train_and_evaluate", killed_after_training)
  config.num_epochs = 2
  with pytest.raises(KeyboardInterrupt):
    results.reproduce(config, str(tmp_path))
  monkeypatch.setattr(training, "train_and_evaluate", train_and_evaluate)
  monkeypatch.setattr(results, "_commit", lambda: "c" * 40)
  config.num_epochs = 3
  record = results.reproduce(config, str(tmp_path))
  assert record["candidates"]["2"]["trained_by"] == [{"commit": "a" * 40, "epochs": [0, 1]},
                                                    {"commit": "b" * 40, "epochs": [1, 2]},
                                                    {"commit": "c" * 40, "epochs": [2, 3]}]


@pytest.fixture
def splits(monkeypatch):
  """The splits loaded through `training.load_split` during the test, in order."""
  loaded = []
  load_split = training.load_split
  monkeypatch.setattr(training, "load_split", lambda config, split: loaded.append(split) or load_split(config, split))
  return loaded


def test_choosing_reads_the_test_split_only_for_the_chosen_model(tmp_path, splits):
  config = tiny_config("bihm")
  config.update({"num_epochs": 1, "eval_ks": (1,), "z_samples": 10})
  results.reproduce(config, str(tmp_path))
  assert splits.count("test") == 1 and splits[-1] == "test"
  assert splits.count("valid") == 2


def test_validating_only_reads_no_test_split_and_a_later_reproduce_only_evaluates(tmp_path, splits):
  config = tiny_config("bihm")
  config.update({"num_epochs": 2, "eval_ks": (1,), "z_samples": 10})
  commit, candidates = results.train_candidates(config, str(tmp_path / "runs"))
  assert "test" not in splits and set(candidates) == {"5-3", "2"}
  report = results.validation_report(candidates, str(tmp_path / "absent.json")).splitlines()
  assert report == [f"{name}: valid/bound {c['best_valid']:.3f} at epoch {c['best_epoch']} of 2"
                    for name, c in candidates.items()]

  record = results.reproduce(config, str(tmp_path / "runs"))   # nothing left to train
  assert splits.count("test") == 1
  assert {name: c["trained_by"] for name, c in record["candidates"].items()} == \
         {name: [{"commit": commit, "epochs": [0, 2]}] for name in candidates}
  with open(tmp_path / "record.json", "w", encoding="utf-8") as f:
    json.dump(record, f)
  best = record["candidates"][record["chosen"]]
  assert results.validation_report(candidates, str(tmp_path / "record.json")).splitlines()[-1] == (
      f"record {tmp_path / 'record.json'} ({record['chosen']}): valid/bound {best['best_valid']:.3f} "
      f"at epoch {best['best_epoch']} of 2")


def test_results_table_puts_the_paper_beside_ours(records):
  rows = results.table(results.load_records(records["results_dir"])).splitlines()
  # Header, rule, bihm, rws (k_curve.json is not a record), then the commands.
  assert len(rows) == 4 + 5 and rows[4:6] == ["", "```bash"] and rows[-1] == "```"
  head, dirty, _ = records["rws"]["commit"].partition("-dirty")  # run from a dirty tree, or not
  assert rows[7] == f"run rws   # commit {head[:12]}{dirty}"
  nll = records["bihm"]["test_nll"]
  assert f"| synthetic | BIHM | {nll['nll']:.2f} +- {nll['se']:.2f} | 100 |  |  |" in rows[2]
  paper_record = dict(records["rws"], dataset="dna")
  row = results.table([paper_record]).splitlines()[2]
  assert f"| 90.63 | {paper_record['test_nll']['nll'] - 90.63:+.2f} |" in row
  text = f"intro\n{results.START}\nold\n{results.END}\nrest\n"
  assert results.replace_marked(text, "new") == f"intro\n{results.START}\nnew\n{results.END}\nrest\n"
  with pytest.raises(ValueError, match="markers"):
    results.replace_marked("no table here", "new")


def test_k_curve_passes_through_the_records_estimates(records):
  result = results.k_curve(records["results_dir"], "synthetic", max_k=100)
  assert result["ks"] == [1, 2, 5, 10, 20, 50, 100]
  folder = os.path.join(records["results_dir"], "synthetic")
  assert os.path.getsize(os.path.join(folder, "k_curve.png")) > 1000
  with open(os.path.join(folder, "k_curve.json"), encoding="utf-8") as f:
    assert json.load(f)["curves"]["bihm"]["mean"] == result["curves"]["bihm"]["mean"]
  # Standard errors are over points: for BiHM the constant log Z^2 adds none.
  for method, estimate, spread in (("bihm", "log_pstar", "two_log_ptilde"), ("rws", "log_px", "log_px")):
    c, test = result["curves"][method], records[method]["test"]["k"]
    for k in (1, 10, 100):
      i = result["ks"].index(k)
      assert c["mean"][i] == pytest.approx(test[str(k)][estimate]["mean"], abs=1e-4), (method, k)
      assert c["se"][i] == pytest.approx(test[str(k)][spread]["se"], rel=1e-3), (method, k)
    assert c["gap_to_max_k_se"][-1] == 0.0 and c["k_within_tolerance"] in result["ks"]


def test_k_curve_refuses_a_record_older_than_its_checkpoint(records):
  stale = json.loads(json.dumps(records["bihm"]))
  stale["candidates"][stale["chosen"]]["best_epoch"] -= 1
  x = training.load_split(training.load_config(stale["workdir"]), "test")[:2]
  with pytest.raises(ValueError, match=f"epoch {stale['candidates'][stale['chosen']]['best_epoch']}, but"):
    results.curve(stale, x, (1, 10), seed=0)
  assert results.curve(records["bihm"], x, (1, 10), seed=0)["epoch"] == records["bihm"]["candidates"][
      records["bihm"]["chosen"]]["best_epoch"]


def test_log_z2_curve_matches_exact_enumeration(records):
  result = results.k_curve(records["results_dir"], "synthetic", max_k=10, max_z_samples=100_000)
  z = result["log_z2"]
  assert z["samples"] == [1000, 10_000, 100_000]
  assert z["record"]["log_z2"] == records["bihm"]["test"]["log_z2"]
  _, state, _ = training.load_checkpoint(records["bihm"]["workdir"])
  exact_log_z2 = float(exact.log_z2(state.params))
  for n, mean, se in zip(z["samples"], z["mean"], z["se"]):
    assert 0 < se and abs(mean - exact_log_z2) < helpers.Z_SCORE * se, (n, mean, se, exact_log_z2)
  # Independent keys: the estimates are not nested prefixes of one another's samples.
  assert len(set(z["mean"])) == 3 and z["se"][2] < z["se"][0]
  with open(os.path.join(records["results_dir"], "synthetic", "k_curve.json"), encoding="utf-8") as f:
    assert json.load(f)["log_z2"] == z


def test_k_within_is_the_first_k_after_which_all_estimates_are_close():
  ks = (1, 10, 100, 1000)
  assert results.k_within(np.array([-5.0, -3.0, -2.95, -3.0]), ks) == 10
  assert results.k_within(np.array([-3.05, -3.5, -3.0, -3.0]), ks) == 100   # must stay close
  assert results.k_within(np.array([-3.0, -3.0, -3.0, -3.0]), ks) == 1
  assert results.sample_counts(1000) == (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
