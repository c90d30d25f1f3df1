"""Data parallelism: training and evaluation on 4 devices, and on 2 processes of 2 devices each,
give the results of 1 device; only process 0 writes.

Each run is a subprocess (`tests/distributed_worker.py`) on CPU devices, whose number JAX reads
from JAX_NUM_CPU_DEVICES when it starts. Processes talk through gloo over 127.0.0.1. All runs
start at once: most of their time is compilation, one core each.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from bihm_jax import training
from experiments.configs import synthetic

# A guard against a hung worker, not a performance limit: the four workers compile at once, and
# on this project's 2-core machine they took 174 s together when idle, over 240 s when sharing it.
TIMEOUT_S = 600
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_worker(workdir: str, num_devices: int, *process_args) -> subprocess.Popen:
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(num_devices), PYTHONPATH=ROOT)
  env.pop("XLA_FLAGS", None)
  return subprocess.Popen(
      [sys.executable, "-m", "tests.distributed_worker", workdir, *map(str, process_args)],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def reports(workers: list[subprocess.Popen]) -> list[dict]:
  """The JSON reports of running workers, in order; kills them all after TIMEOUT_S."""
  try:
    outputs = [worker.communicate(timeout=TIMEOUT_S) for worker in workers]
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()
        worker.communicate()
  for worker, (stdout, stderr) in zip(workers, outputs):
    assert worker.returncode == 0, stderr[-3000:]
  return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# name: (processes, devices per process)
RUNS = {"one": (1, 1), "four": (1, 4), "two_processes": (2, 2)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """{name: (workdir, [report of each process])} of the RUNS, all started at once."""
  address = f"127.0.0.1:{free_port()}"
  workdirs, workers = {}, {}
  for name, (num_processes, num_devices) in RUNS.items():
    workdirs[name] = str(tmp_path_factory.mktemp(name))
    process_args = [(address, num_processes, i) if num_processes > 1 else () for i in range(num_processes)]
    workers[name] = [start_worker(workdirs[name], num_devices, *args) for args in process_args]
  done = iter(reports([worker for group in workers.values() for worker in group]))
  return {name: (workdirs[name], [next(done) for _ in group]) for name, group in workers.items()}


def assert_same_results(expected_workdir, expected, actual_workdir, actual):
  """Parameters after training equal to float32 precision, evaluation and chains alike.

  Only the order of float32 sums differs (per-device partial sums of gradients and metrics):
  ~1e-7 relative per step, compounded over 40 Adam steps of size 1e-2 on O(1) parameters.
  """
  _, expected_state, _ = training.load_checkpoint(expected_workdir, "latest")
  _, actual_state, _ = training.load_checkpoint(actual_workdir, "latest")
  assert int(actual_state.step) == int(expected_state.step) == 40
  for a, b in zip(jax.tree.leaves(actual_state.params), jax.tree.leaves(expected_state.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  for name in ("best_valid", "test_bound", "test_log_px"):
    assert actual["summary"][name] == pytest.approx(expected["summary"][name], rel=1e-5), name

  expected_eval, actual_eval = expected["evaluation"], actual["evaluation"]
  assert actual_eval["log_z2"] == pytest.approx(expected_eval["log_z2"], abs=1e-5)
  assert actual_eval["log_z2_se"] == pytest.approx(expected_eval["log_z2_se"], rel=1e-4)
  for k, stats in expected_eval["k"].items():
    for name, value in stats.items():
      assert actual_eval["k"][k][name]["mean"] == pytest.approx(value["mean"], abs=1e-5), (k, name)
  for a, b in zip(actual["chain_states"], expected["chain_states"]):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(actual["chain_log_ptilde"], expected["chain_log_ptilde"], rtol=1e-5)


def test_four_devices_give_the_results_of_one(runs):
  (workdir, [report]), (reference_workdir, [reference]) = runs["four"], runs["one"]
  assert report["device_count"] == 4 and reference["device_count"] == 1
  assert_same_results(reference_workdir, reference, workdir, report)


def test_two_processes_give_the_results_of_one_and_only_process_0_writes(runs):
  (workdir, [lead, other]), (reference_workdir, [reference]) = runs["two_processes"], runs["one"]
  assert (lead["process_index"], other["process_index"]) == (0, 1)
  assert lead["device_count"] == other["device_count"] == 4
  assert lead["writes"] and other["writes"] == []
  assert_same_results(reference_workdir, reference, workdir, lead)
  # Every process reports the lead's values; only their wall times differ.
  assert {**other["evaluation"], "seconds": None} == {**lead["evaluation"], "seconds": None}
  assert other["summary"]["test_bound"] == lead["summary"]["test_bound"]


def test_batch_size_must_split_over_the_devices(monkeypatch):
  monkeypatch.setattr(jax, "device_count", lambda: 4)
  config = synthetic.get_config()
  config.batch_size = 30
  message = "config.batch_size = 30 must be a multiple of the number of devices 4,"
  with pytest.raises(ValueError, match=message):
    training.validate_config(config)
