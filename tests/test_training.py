"""The training program end to end on the tiny synthetic model: outputs, resumption, failures."""

import glob
import importlib
import json
import os
import shutil

from flax import serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bihm_jax import checkpoints, evaluation, exact, training
from experiments.configs import synthetic
from tests import helpers

NUM_EPOCHS = 4


def small_config(**overrides):
  config = synthetic.get_config()
  config.update({"num_epochs": NUM_EPOCHS, "batch_size": 100, "valid_k": 10, "checkpoint_every_epochs": 2,
                 **overrides})
  return config


def read_bytes(path):
  with open(path, "rb") as f:
    return f.read()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
  """An uninterrupted run: (workdir, summary)."""
  workdir = str(tmp_path_factory.mktemp("full"))
  return workdir, training.train_and_evaluate(small_config(), workdir)


def test_run_writes_checkpoints_logs_summary_and_improves_the_bound(full_run):
  workdir, summary = full_run
  for name in ("config.json", "summary.json", "checkpoints/latest.msgpack", "checkpoints/best.msgpack"):
    assert os.path.exists(os.path.join(workdir, name)), name
  events = glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
  assert events
  logged = b"".join(read_bytes(path) for path in events)
  for tag in ("train/bound", "train/log_px", "train/ess", "train/grad_norm_p", "train/learning_rate",
              "train/examples_per_sec", "valid/bound", "test/bound"):
    assert tag.encode() in logged, tag
  assert summary["epochs"] == NUM_EPOCHS and not summary["stopped_early"]

  config = small_config()
  initial = training.create_train_state(config, training.make_optimizer(config, 1)[0])
  initial_bound, _ = evaluation.batched_estimates(initial.params, jax.random.PRNGKey(0),
                                                  training.load_split(config, "valid"), config.valid_k, 100)
  assert summary["best_valid"] > np.mean(initial_bound) + 0.5
  assert np.isfinite(summary["test_bound"])


def test_epoch_function_is_traced_once():
  config = small_config()
  optimizer, schedule = training.make_optimizer(config, 20)
  train_epoch = training.make_train_epoch(training.make_loss(config), optimizer, schedule, 100, False)
  state = training.create_train_state(config, optimizer)
  x = jax.device_put(training.load_split(config, "train"))
  for epoch in range(2):
    state, metrics = train_epoch(state, x, epoch)
  assert metrics["bound"].shape == (20,)
  assert train_epoch._cache_size() == 1


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_weight_decay_with_adam_is_adamw(schedule):
  config = small_config(weight_decay=0.3, schedule=schedule)
  optimizer, learning_rate = training.make_optimizer(config, steps_per_epoch=2)
  adamw = optax.adamw(learning_rate, weight_decay=0.3, **config.optimizer_kwargs.to_dict())
  params = training.create_train_state(config, optimizer).params
  grads = jax.tree.map(lambda p: jnp.cos(3.0 * p + 1.0), params)
  ours, theirs = optimizer.init(params), adamw.init(params)
  for _ in range(5):
    updates, ours = optimizer.update(grads, ours, params)
    reference, theirs = adamw.update(grads, theirs, params)
    assert jax.tree.all(jax.tree.map(lambda a, b: np.allclose(a, b, rtol=1e-6, atol=1e-9), updates, reference))
    params = optax.apply_updates(params, updates)


@pytest.mark.parametrize("deterministic_layers", [0, 2])
def test_l2_penalty_adds_twice_l_times_each_weight_to_its_gradient_and_leaves_biases_alone(deterministic_layers):
  penalised, plain = (training.make_loss(small_config(l2_penalty=l)) for l in (0.05, 0.0))
  config = small_config(deterministic_layers=deterministic_layers)
  params = training.create_train_state(config, optax.adam(1e-3)).params
  params = jax.tree.map(lambda p: p + jnp.cos(3.0 * jnp.arange(p.size).reshape(p.shape)), params)
  key, x = jax.random.PRNGKey(3), jnp.asarray(training.load_split(config, "train")[:20])
  (loss, _), grads = jax.value_and_grad(penalised, has_aux=True)(params, key, x)
  (loss0, _), grads0 = jax.value_and_grad(plain, has_aux=True)(params, key, x)
  affine = lambda tree: [a for net in ("p", "q") for l in tree[net]["layers"] for a in [l, *l.get("hidden", ())]]
  assert len(affine(params)) == 2 * 2 * (deterministic_layers + 1)
  squares = sum(float(jnp.sum(a["w"] ** 2)) for a in affine(params))
  np.testing.assert_allclose(loss - loss0, 0.05 * squares, rtol=1e-5)
  for a, g, g0 in zip(affine(params), affine(grads), affine(grads0)):
    np.testing.assert_allclose(g["w"] - g0["w"], 0.1 * a["w"], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(g["b"], g0["b"])
  np.testing.assert_array_equal(grads["p"]["prior"], grads0["p"]["prior"])


def test_a_run_with_deterministic_layers_learns_and_resumes_with_them(tmp_path):
  workdir = str(tmp_path / "run")
  config = small_config(deterministic_layers=1, num_epochs=2, test_at_end=False)
  first = training.train_and_evaluate(config, workdir)
  config.num_epochs = NUM_EPOCHS
  summary = training.train_and_evaluate(config, workdir)
  saved, state, _ = training.load_checkpoint(workdir, "latest")
  assert saved.deterministic_layers == 1 and summary["epochs"] == NUM_EPOCHS
  assert [len(l["hidden"]) for net in ("p", "q") for l in state.params[net]["layers"]] == [1] * 4
  assert summary["best_valid"] > first["best_valid"]


def test_step_schedule_multiplies_the_rate_by_decay_rate_after_each_decay_epoch():
  config = small_config(schedule="step", learning_rate=1e-2, decay_rate=0.1, decay_epochs=(2, 3))
  _, learning_rate = training.make_optimizer(config, steps_per_epoch=5)
  rates = np.array([learning_rate(step) for step in range(20)])
  np.testing.assert_allclose(rates, [1e-2] * 10 + [1e-3] * 5 + [1e-4] * 5, rtol=1e-6)


def test_constant_run_resumed_with_a_step_decay_equals_a_run_with_it_from_the_start(tmp_path):
  step = dict(schedule="step", decay_rate=0.1, decay_epochs=(2,), test_at_end=False)
  resumed, fresh = str(tmp_path / "resumed"), str(tmp_path / "fresh")
  training.train_and_evaluate(small_config(num_epochs=2, test_at_end=False), resumed)
  training.train_and_evaluate(small_config(**step), resumed)
  training.train_and_evaluate(small_config(**step), fresh)
  expected, actual = (training.load_checkpoint(workdir, "latest")[1] for workdir in (fresh, resumed))
  assert int(actual.step) == int(expected.step) > 0
  for a, b in zip(jax.tree.leaves(expected.params), jax.tree.leaves(actual.params)):
    np.testing.assert_array_equal(a, b)
  # The decay took effect: the last epoch's updates were made at the lower rate.
  constant = str(tmp_path / "constant")
  training.train_and_evaluate(small_config(test_at_end=False), constant)
  params = training.load_checkpoint(constant, "latest")[1].params
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(actual.params)))


def test_configs_saved_before_weight_decay_existed_still_load(full_run, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(full_run[0], workdir)
  saved = json.loads(read_bytes(os.path.join(workdir, "config.json")))
  del (saved["weight_decay"], saved["weight_decay_candidates"], saved["l2_penalty"], saved["ema_decay"],
       saved["deterministic_layers"])
  with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
    json.dump(saved, f)
  config, state, _ = training.load_checkpoint(workdir)
  assert not {"weight_decay", "l2_penalty", "ema_decay", "deterministic_layers"} & set(config)
  assert training.train_and_evaluate(small_config(num_epochs=NUM_EPOCHS + 1), workdir)["epochs"] == NUM_EPOCHS + 1


def test_with_ema_decay_validation_and_the_best_checkpoint_use_the_parameter_average(tmp_path):
  config = small_config(ema_decay=0.9, learning_rate=3e-2, test_at_end=False)
  summary = training.train_and_evaluate(config, str(tmp_path))
  _, best, loop = training.load_checkpoint(str(tmp_path), "best")
  assert int(best.opt_state[-1].count) == int(best.step) > 0   # averaged over every update

  def valid_bound(params):
    bound, _ = evaluation.batched_estimates(params, jax.random.fold_in(best.rng, 2),
                                            training.load_split(config, "valid"), config.valid_k, 100)
    return float(np.mean(bound))

  np.testing.assert_allclose(valid_bound(best.eval_params), summary["best_valid"], rtol=1e-6)
  assert abs(valid_bound(best.params) - summary["best_valid"]) > 1e-3
  # The evaluation program reports the average too.
  test_x = training.load_split(config, "test")
  report = training.evaluate_workdir(str(tmp_path), ks=(10,), z_samples=1000)
  for params, matches in ((best.eval_params, True), (best.params, False)):
    expected, _ = evaluation.evaluate(params, jax.random.PRNGKey(0), test_x, ks=(10,), z_samples=1000,
                                      z_inner_k=config.z_inner_k, batch_size=config.eval_batch_size)
    assert np.isclose(report["k"]["10"]["log_pstar"]["mean"], expected["k"]["10"]["log_pstar"]["mean"],
                      rtol=1e-6) == matches
  with pytest.raises(ValueError, match="config.ema_decay = 0.0, but .* ema_decay = 0.9"):
    training.train_and_evaluate(small_config(), str(tmp_path))


def test_early_stopping_after_patience_epochs_without_a_better_bound(tmp_path):
  # Updates far below float32 resolution leave the parameters, hence the bound, unchanged.
  config = small_config(num_epochs=10, patience=2, learning_rate=1e-30)
  summary = training.train_and_evaluate(config, str(tmp_path))
  assert summary["stopped_early"]
  assert (summary["epochs"], summary["best_epoch"]) == (3, 1)
  assert training.load_checkpoint(str(tmp_path), "latest")[2]["epoch"] == 3


class Interrupt(Exception):
  pass


def test_interrupted_then_resumed_run_equals_uninterrupted_run(full_run, tmp_path):
  workdir = str(tmp_path)

  def interrupt_after_epoch_3(epoch, scalars):
    if epoch == 3:
      raise Interrupt

  with pytest.raises(Interrupt):
    training.train_and_evaluate(small_config(), workdir, on_epoch_end=interrupt_after_epoch_3)
  # Checkpoints every 2 epochs: the resumed run repeats epoch 3.
  assert training.load_checkpoint(workdir, "latest")[2]["epoch"] == 2
  training.train_and_evaluate(small_config(), workdir)

  for name in ("latest", "best"):
    path = os.path.join("checkpoints", f"{name}.msgpack")
    expected = serialization.msgpack_restore(read_bytes(os.path.join(full_run[0], path)))
    actual = serialization.msgpack_restore(read_bytes(os.path.join(workdir, path)))
    # Everything but the wall time is bit for bit the same.
    assert actual["loop"].pop("train_seconds") > 0 and expected["loop"].pop("train_seconds") > 0
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(actual)):
      np.testing.assert_array_equal(a, b)


def test_training_time_adds_up_over_resumed_runs(full_run, tmp_path):
  workdir = str(tmp_path)
  first = training.train_and_evaluate(small_config(num_epochs=2, test_at_end=False), workdir)
  second = training.train_and_evaluate(small_config(test_at_end=False), workdir)
  assert second["epochs"] == NUM_EPOCHS
  assert second["train_seconds"] > first["train_seconds"] > 0
  assert "test_bound" not in second


@pytest.mark.parametrize("method", ["bihm", "rws"])
def test_early_stopping_follows_the_methods_own_validation_estimate(method, tmp_path):
  scalars = []
  summary = training.train_and_evaluate(small_config(method=method, checkpoint_every_epochs=1), str(tmp_path),
                                        on_epoch_end=lambda epoch, s: scalars.append(s))
  criterion = training.VALID_CRITERIA[method]
  assert summary["valid_criterion"] == criterion
  values = [s[criterion] for s in scalars]
  assert summary["best_valid"] == max(values)
  assert summary["best_epoch"] == 1 + int(np.argmax(values))
  # The two estimates differ (log p_K > bound), so following the wrong one would fail above.
  assert all(s["valid/log_px"] > s["valid/bound"] for s in scalars)
  assert "valid/log_pstar" not in scalars[0]   # no log Z^2 at validation unless asked for


def test_early_stopping_on_log_pstar_estimates_log_z2_at_each_validation(tmp_path):
  """valid/log_z2 is the estimate from valid_z_samples samples, within its standard error of the
  exact value, and valid/log_pstar = valid/bound - valid/log_z2 is what the best checkpoint follows."""
  n = 20_000
  config = small_config(num_epochs=6, learning_rate=3e-2, valid_criterion="log_pstar", valid_z_samples=n)
  scalars = []
  summary = training.train_and_evaluate(config, str(tmp_path), on_epoch_end=lambda epoch, s: scalars.append(s))
  assert summary["valid_criterion"] == "valid/log_pstar"
  for s in scalars:
    assert s["valid/log_pstar"] == s["valid/bound"] - s["valid/log_z2"]
  values = [s["valid/log_pstar"] for s in scalars]
  assert summary["best_valid"] == max(values)
  assert summary["best_epoch"] == 1 + int(np.argmax(values))

  _, best, _ = training.load_checkpoint(str(tmp_path), "best")
  z2 = float(np.exp(exact.log_z2(best.params)))
  exact_stderr = np.sqrt((1 - z2**2) / n) / z2   # one inner sample: Var(term) = 1 - Z^4
  logged = scalars[summary["best_epoch"] - 1]["valid/log_z2"]
  assert abs(logged - np.log(z2)) < helpers.Z_SCORE * exact_stderr, (logged, np.log(z2), exact_stderr)
  # Each validation estimates log Z^2 of its own parameters.
  assert len({round(s["valid/log_z2"], 6) for s in scalars}) == len(scalars)


def test_non_finite_update_stops_with_the_step_and_keeps_the_last_checkpoint(full_run, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(full_run[0], workdir)
  before = {name: read_bytes(os.path.join(workdir, "checkpoints", name))
            for name in ("latest.msgpack", "best.msgpack")}
  # An infinite learning rate makes the first update of the resumed epoch non-finite.
  with pytest.raises(FloatingPointError, match=f"step {full_run[1]['steps']} "):
    training.train_and_evaluate(small_config(num_epochs=NUM_EPOCHS + 2, learning_rate=float("inf")), workdir)
  for name, content in before.items():
    assert read_bytes(os.path.join(workdir, "checkpoints", name)) == content, name


def test_resuming_with_another_state_structure_names_the_field(full_run, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(full_run[0], workdir)
  before = read_bytes(os.path.join(workdir, "config.json"))
  with pytest.raises(ValueError, match=r"config.layer_sizes = \(8, 6, 3\), but .* layer_sizes = \(8, 5, 3\)"):
    training.train_and_evaluate(small_config(layer_sizes=(8, 6, 3)), workdir)
  with pytest.raises(ValueError, match="config.optimizer = 'adamw', but .* optimizer = 'adam'"):
    training.train_and_evaluate(small_config(optimizer="adamw"), workdir)
  with pytest.raises(ValueError, match="config.weight_decay = 0.1, but .* weight_decay = 0.0"):
    training.train_and_evaluate(small_config(weight_decay=0.1), workdir)
  with pytest.raises(ValueError, match="config.deterministic_layers = 1, but .* deterministic_layers = 0"):
    training.train_and_evaluate(small_config(deterministic_layers=1), workdir)
  assert read_bytes(os.path.join(workdir, "config.json")) == before


@pytest.mark.parametrize("overrides, message", [
    (dict(dataset="no_such_data"), "config.dataset"),
    (dict(layer_sizes=(8, 0, 3)), r"config.layer_sizes\[1\]"),
    (dict(k=0), "config.k "),
    (dict(layer_sizes=(9, 5, 3)), r"config.layer_sizes\[0\] = 9 does not match the data dimension 8"),
    (dict(method="vae"), "config.method"),
    (dict(optimizer="no_such_optimizer"), "config.optimizer"),
    (dict(weight_decay=-0.1), "config.weight_decay must be >= 0"),
    (dict(l2_penalty=-0.1), "config.l2_penalty must be >= 0"),
    (dict(ema_decay=1.0), r"config.ema_decay must be in \[0, 1\)"),
    (dict(deterministic_layers=-1), "config.deterministic_layers must be an integer >= 0, got -1"),
    (dict(schedule="step"), r"config.decay_epochs must be increasing integers >= 1 .* got \(\)"),
    (dict(schedule="step", decay_epochs=(3, 2)), r"config.decay_epochs .* got \(3, 2\)"),
    (dict(valid_criterion="nll"), "config.valid_criterion = 'nll'"),
    (dict(valid_criterion="log_pstar"), "config.valid_criterion = 'log_pstar' needs config.valid_z_samples"),
    (dict(valid_z_samples=-1), "config.valid_z_samples must be an integer >= 0"),
])
def test_config_errors_fail_before_training_and_name_the_field(tmp_path, overrides, message):
  workdir = str(tmp_path / "run")
  with pytest.raises(ValueError, match=message):
    training.train_and_evaluate(small_config(**overrides), workdir)
  assert not os.path.exists(workdir)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
  path = str(tmp_path / "ckpt.msgpack")
  checkpoints.save(path, {"a": np.arange(3)})

  def fail(*args):
    raise OSError("disk full")

  monkeypatch.setattr(os, "replace", fail)
  with pytest.raises(OSError):
    checkpoints.save(path, {"a": np.arange(3) + 1})
  np.testing.assert_array_equal(checkpoints.restore(path, {"a": np.zeros(3, int)})["a"], np.arange(3))
  assert os.listdir(tmp_path) == ["ckpt.msgpack"]


CONFIG_NAMES = sorted(
    os.path.basename(path)[:-3] for path in glob.glob(os.path.join(os.path.dirname(synthetic.__file__), "*.py"))
    if os.path.basename(path) not in ("__init__.py", "default.py"))


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_config_file_is_valid(name):
  config = importlib.import_module(f"experiments.configs.{name}").get_config()
  training.validate_config(config)
  assert config.method in ("bihm", "rws")
