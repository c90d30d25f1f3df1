"""The evaluation program against exact enumeration on a tiny trained model."""

import json
import os
import time

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


class _Interrupted(Exception):
  pass


_SHARDED_CURVES = evaluation._sharded_curves


def _count_batches(monkeypatch, interrupt_after: int | None = None) -> list[int]:
  """Counts `batched_curves`' batch calls; raises `_Interrupted` on call `interrupt_after` + 1."""
  calls = []

  def counted(mesh):
    curves = _SHARDED_CURVES(mesh)

    def call(*args):
      if len(calls) == interrupt_after:
        raise _Interrupted
      calls.append(1)
      return curves(*args)
    return call
  monkeypatch.setattr(evaluation, "_sharded_curves", counted)
  return calls


def test_an_interrupted_pass_resumes_after_its_saved_batches(trained_workdir, tmp_path, monkeypatch):
  config, state, _ = training.load_checkpoint(trained_workdir)
  x = training.load_split(config, "test")[:37]
  key, ks = jax.random.PRNGKey(4), (1, 10)
  expected = evaluation.batched_curves(state.params, key, x, ks, 10)
  monkeypatch.setattr(evaluation, "PROGRESS_SAVE_SECONDS", 0.0)   # save after every batch

  start = time.monotonic()
  with pytest.raises(_Interrupted):
    _count_batches(monkeypatch, interrupt_after=2)
    evaluation.batched_curves(state.params, key, x, ks, 10, progress_dir=tmp_path)
  interrupted_seconds = time.monotonic() - start
  assert len(os.listdir(tmp_path)) == 1   # one partial file, no temporary left behind
  # Other inputs (here the key) do not pick up this pass's batches.
  other_key = jax.random.PRNGKey(5)
  calls = _count_batches(monkeypatch)
  other = evaluation.batched_curves(state.params, other_key, x, ks, 10, progress_dir=tmp_path)
  assert len(calls) == 4
  assert other.resumed_seconds == 0.0
  for a, b in zip(other[:2], evaluation.batched_curves(state.params, other_key, x, ks, 10)[:2]):
    np.testing.assert_array_equal(a, b)

  calls = _count_batches(monkeypatch)
  resumed = evaluation.batched_curves(state.params, key, x, ks, 10, progress_dir=tmp_path)
  assert len(calls) == 2   # batches 2 and 3 of 4
  for a, b in zip(resumed[:2], expected[:2]):
    np.testing.assert_array_equal(a, b)
  # The interrupted run's time to its last save (after batch 2) counts in the pass's budget.
  assert 0.0 < resumed.resumed_seconds <= interrupted_seconds
  assert not os.listdir(tmp_path)   # a finished pass removes its progress


def test_a_resumed_evaluation_counts_the_seconds_of_its_earlier_runs(trained_workdir, tmp_path,
                                                                     monkeypatch):
  config, state, _ = training.load_checkpoint(trained_workdir)
  x = training.load_split(config, "test")[:37]
  args = (state.params, jax.random.PRNGKey(4), x, (1, 10))
  kwargs = {"z_samples": 100, "batch_size": 10, "progress_dir": tmp_path}
  monkeypatch.setattr(evaluation, "PROGRESS_SAVE_SECONDS", 0.0)
  with pytest.raises(_Interrupted):
    _count_batches(monkeypatch, interrupt_after=3)
    evaluation.evaluate(*args, **kwargs)

  _count_batches(monkeypatch)
  start = time.perf_counter()
  summary, _ = evaluation.evaluate(*args, **kwargs)
  own_seconds = time.perf_counter() - start
  # Its own time and the interrupted run's: more than this call took alone.
  assert summary["seconds"] > own_seconds


def test_mean_and_stderr():
  stats = evaluation.mean_and_stderr(np.array([1.0, 2.0, 3.0, 4.0]))
  assert stats["mean"] == 2.5
  assert stats["se"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2.0)
