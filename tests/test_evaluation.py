"""The evaluation program against exact enumeration on a tiny trained model."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bihm_jax import evaluation, exact, training
from experiments.configs import synthetic


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("run"))
  config = synthetic.get_config()
  config.update({"num_epochs": 3, "batch_size": 100, "valid_k": 10})
  training.train_and_evaluate(config, workdir)
  return workdir


def test_log_pstar_agrees_with_exact_within_its_standard_error(trained_workdir):
  summary = training.evaluate_workdir(trained_workdir, ks=(1, 100), z_samples=20_000)
  config, state, _ = training.load_checkpoint(trained_workdir)
  params = state.params
  x = training.load_split(config, "test")
  exact_log_z2 = float(exact.log_z2(params))
  exact_log_pstar = float(jnp.mean(exact.log_pstar(params, x)))

  assert abs(summary["log_z2"] - exact_log_z2) < 3 * summary["log_z2_se"] + 1e-6
  for k, report in summary["k"].items():
    log_pstar = report["log_pstar"]
    assert abs(log_pstar["mean"] - exact_log_pstar) < 3 * log_pstar["se"], k
    assert report["bhattacharyya"]["mean"] >= 0.0 if k != "1" else report["bhattacharyya"]["mean"] == 0.0

  with open(os.path.join(trained_workdir, "eval", "summary.json"), encoding="utf-8") as f:
    assert json.load(f) == summary
  bound = np.load(os.path.join(trained_workdir, "eval", "two_log_ptilde_k100.npy"))
  log_px = np.load(os.path.join(trained_workdir, "eval", "log_px_k100.npy"))
  assert bound.shape == log_px.shape == (x.shape[0],)
  assert summary["k"]["100"]["two_log_ptilde"]["mean"] == pytest.approx(np.mean(bound), abs=1e-5)
  # Per point, K = 100 samples on a 16-unit model come close to the exact bound.
  np.testing.assert_allclose(bound, 2.0 * exact.log_ptilde(params, x), atol=0.25)


def test_batched_estimates_do_not_depend_on_the_batch_size(trained_workdir):
  config, state, _ = training.load_checkpoint(trained_workdir)
  params = state.params
  x = training.load_split(config, "test")[:37]
  key = jax.random.PRNGKey(3)
  full = evaluation.batched_estimates(params, key, x, 10, 37)
  padded = evaluation.batched_estimates(params, key, x[:30], 10, 37)
  for a, b in zip(full, padded):
    np.testing.assert_allclose(a[:30], b, rtol=1e-6)


def test_mean_and_stderr():
  stats = evaluation.mean_and_stderr(np.array([1.0, 2.0, 3.0, 4.0]))
  assert stats["mean"] == 2.5
  assert stats["se"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2.0)
