"""Training: config checks, jit-compiled epochs, validation, early stopping, checkpoints, logs.

`train_and_evaluate(config, workdir)` trains the model a config describes (the fields are
documented in `experiments/configs/default.py`) and leaves in `workdir`:

  config.json                  the config of the latest run in this workdir
  checkpoints/latest.msgpack   state and loop bookkeeping, every `checkpoint_every_epochs` and at the end
  checkpoints/best.msgpack     the same, at the best validation bound so far
  events.out.tfevents.*        TensorBoard scalars (train/, valid/, test/)
  summary.json                 final metrics: epochs, training time, the best validation score
                               and (unless `test_at_end` is off) the best model's test estimates

Early stopping and the best checkpoint follow a likelihood estimate on the validation split
with `valid_k` samples, by default each method's own: the bound 2 log p~*_K(x) for "bihm" (the
paper's criterion) and log p_K(x) for "rws", whose model is p. `valid_criterion = "log_pstar"`
follows the BiHM's reported estimate log p*(x) = 2 log p~*_K(x) - log Z^2 instead, with log Z^2
estimated from `valid_z_samples` samples at every validation (the same samples each time, so
that epochs differ by their parameters, not by the noise of the estimate).
With `ema_decay` > 0 the optimizer also keeps a moving average of the parameters
(`bihm_jax.averaging`), and validation, testing, evaluation and sampling use it
(`TrainState.eval_params`) while training goes on updating the parameters themselves.

Randomness: PRNGKey(config.seed) splits into the initialisation key and the run key `rng`,
which the state carries. Step s draws its samples from fold_in(fold_in(rng, 0), s), epoch e
orders the data by fold_in(fold_in(rng, 1), e), validation and test use fold_in(rng, 2), and
the validation estimate of log Z^2 uses fold_in(rng, 3).
Restarting in the same workdir resumes from the latest checkpoint (epoch granularity) and
repeats exactly what an uninterrupted run computes.

Devices and processes: training runs data-parallel over all devices (`bihm_jax.distributed`).
The epoch's data order is global, each step's batch is split over the devices, and the state
is replicated; the results are those of one device up to the order of float sums. With
several processes, the workdir must be one folder that all of them see: process 0 writes it,
the others only read its checkpoints.
"""

from collections.abc import Callable, Sequence
import functools
import json
import math
import os
import time
from typing import Any

from absl import logging
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tensorboardX
import tqdm

from bihm_jax import averaging, checkpoints, data, distributed, evaluation, model, objectives

Params = model.Params
Config = ml_collections.ConfigDict
LossFn = Callable[[Params, jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]

_TRAIN_STREAM, _DATA_STREAM, _EVAL_STREAM, _VALID_Z_STREAM = range(4)
# Evaluation splits of dynamically binarized data are binarized once, with these fixed seeds.
_EVAL_BINARIZATION_SEEDS = {"valid": 1, "test": 2}

_LOSSES: dict[str, Callable[[Config], LossFn]] = {
    "bihm": lambda c: functools.partial(objectives.bihm_loss, k=c.k, baseline=c.bihm_baseline),
    "rws": lambda c: functools.partial(objectives.rws_loss, k=c.k, sleep=c.rws_sleep),
}

_SCHEDULES: dict[str, Callable[[Config, int], optax.Schedule]] = {
    "constant": lambda c, steps_per_epoch: optax.constant_schedule(c.learning_rate),
    "cosine": lambda c, steps_per_epoch: optax.cosine_decay_schedule(
        c.learning_rate, c.num_epochs * steps_per_epoch),
    "exponential": lambda c, steps_per_epoch: optax.exponential_decay(
        c.learning_rate, steps_per_epoch, c.decay_rate),
    "step": lambda c, steps_per_epoch: optax.piecewise_constant_schedule(
        c.learning_rate, {epoch * steps_per_epoch: c.decay_rate for epoch in c.decay_epochs}),
}

# The validation scalar that early stopping maximises by default, per method.
VALID_CRITERIA = {"bihm": "valid/bound", "rws": "valid/log_px"}
# The validation estimates `config.valid_criterion` may name instead.
VALID_ESTIMATES = ("bound", "log_px", "log_pstar")

_POSITIVE_INT_FIELDS = ("k", "batch_size", "num_epochs", "patience", "valid_every_epochs", "valid_k",
                        "eval_batch_size", "checkpoint_every_epochs", "z_samples", "z_inner_k")


@flax.struct.dataclass
class TrainState:
  """Everything a training step reads and writes."""
  step: jax.Array      # () int32, number of updates so far
  params: Params
  opt_state: optax.OptState
  rng: jax.Array       # the run key (see the module docstring)

  @property
  def eval_params(self) -> Params:
    """The parameters that validation, testing, evaluation and sampling use: the moving average
    of the parameters when the optimizer keeps one (`config.ema_decay`), else `params`."""
    average = averaging.find_average(self.opt_state)
    return self.params if average is None else average


def _stream_key(rng: jax.Array, stream: int, index: int | jax.Array) -> jax.Array:
  return jax.random.fold_in(jax.random.fold_in(rng, stream), index)


def _is_positive_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def valid_criterion(config: Config) -> str:
  """The validation scalar that early stopping and the best checkpoint follow, e.g. "valid/bound"."""
  name = config.get("valid_criterion")   # absent from configs saved before it existed
  return VALID_CRITERIA[config.method] if name is None else f"valid/{name}"


def validate_config(config: Config) -> None:
  """Checks a config before anything is built; raises ValueError naming the bad field."""
  options = config.dataset_options.to_dict()
  try:
    dim = data.dimension(config.dataset, **options)
  except ValueError as e:
    raise ValueError(f"config.dataset = {config.dataset!r} (options {options}): {e}") from None
  try:
    sizes = model.check_layer_sizes(config.layer_sizes)
  except ValueError as e:
    raise ValueError(f"config.{e}") from None
  if sizes[0] != dim:
    raise ValueError(f"config.layer_sizes[0] = {sizes[0]} does not match the data dimension {dim} "
                     f"of dataset {config.dataset!r}")
  if config.method not in _LOSSES:
    raise ValueError(f"config.method = {config.method!r}; choose from {sorted(_LOSSES)}")
  for field in _POSITIVE_INT_FIELDS:
    if not _is_positive_int(config[field]):
      raise ValueError(f"config.{field} must be an integer >= 1, got {config[field]!r}")
  if config.batch_size % jax.device_count():
    raise ValueError(f"config.batch_size = {config.batch_size} must be a multiple of the number of devices "
                     f"{jax.device_count()}, over which each batch is split")
  if config.get("valid_criterion") not in (None,) + VALID_ESTIMATES:
    raise ValueError(f"config.valid_criterion = {config.valid_criterion!r}; choose from "
                     f"{list(VALID_ESTIMATES)}, or None for the method's own")
  if not (config.valid_z_samples == 0 or _is_positive_int(config.valid_z_samples)):
    raise ValueError(f"config.valid_z_samples must be an integer >= 0, got {config.valid_z_samples!r}")
  if valid_criterion(config) == "valid/log_pstar" and not config.valid_z_samples:
    raise ValueError("config.valid_criterion = 'log_pstar' needs config.valid_z_samples >= 1 "
                     "samples of the log Z^2 estimate")
  for i, k in enumerate(config.eval_ks):
    if not _is_positive_int(k):
      raise ValueError(f"config.eval_ks[{i}] must be an integer >= 1, got {k!r}")
  if not config.learning_rate > 0:
    raise ValueError(f"config.learning_rate must be > 0, got {config.learning_rate!r}")
  if config.schedule not in _SCHEDULES:
    raise ValueError(f"config.schedule = {config.schedule!r}; choose from {sorted(_SCHEDULES)}")
  if config.schedule in ("exponential", "step") and not config.decay_rate > 0:
    raise ValueError(f"config.decay_rate must be > 0, got {config.decay_rate!r}")
  decay_epochs = tuple(config.get("decay_epochs", ()))   # absent from configs saved before it existed
  if config.schedule == "step" and not (
      decay_epochs and all(map(_is_positive_int, decay_epochs)) and list(decay_epochs) == sorted(set(decay_epochs))):
    raise ValueError(f"config.decay_epochs must be increasing integers >= 1 for the step schedule, "
                     f"got {decay_epochs!r}")
  if not config.weight_decay >= 0:
    raise ValueError(f"config.weight_decay must be >= 0, got {config.weight_decay!r}")
  if not config.get("l2_penalty", 0.0) >= 0:
    raise ValueError(f"config.l2_penalty must be >= 0, got {config.l2_penalty!r}")
  if not 0.0 <= config.get("ema_decay", 0.0) < 1.0:
    raise ValueError(f"config.ema_decay must be in [0, 1), got {config.ema_decay!r}")
  if not callable(getattr(optax, config.optimizer, None)):
    raise ValueError(f"config.optimizer = {config.optimizer!r} is not an optax optimizer")
  try:
    make_optimizer(config, steps_per_epoch=1)
  except TypeError as e:
    raise ValueError(f"config.optimizer_kwargs do not fit optax.{config.optimizer}: {e}") from None
  try:
    model.init_params(jax.random.PRNGKey(0), (1, 1), weight_init=config.weight_init)
  except ValueError as e:
    raise ValueError(f"config.weight_init: {e}") from None
  deterministic_layers = config.get("deterministic_layers", 0)   # absent from configs saved before it existed
  if isinstance(deterministic_layers, bool) or not isinstance(deterministic_layers, int) or deterministic_layers < 0:
    raise ValueError(f"config.deterministic_layers must be an integer >= 0, got {deterministic_layers!r}")


def make_loss(config: Config) -> LossFn:
  """`(params, key, x) -> (loss, metrics)`: the config's training surrogate with its K bound, plus
  `config.l2_penalty * objectives.weight_penalty(params)` when that is set."""
  surrogate = _LOSSES[config.method](config)
  l2_penalty = config.get("l2_penalty", 0.0)   # absent from configs saved before it existed
  if not l2_penalty:
    return surrogate

  def penalised(params: Params, key: jax.Array, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    loss, metrics = surrogate(params, key, x)
    return loss + l2_penalty * objectives.weight_penalty(params), metrics

  return penalised


def make_optimizer(config: Config, steps_per_epoch: int) -> tuple[optax.GradientTransformation,
                                                                    optax.Schedule]:
  """`(optimizer, schedule)`: optax.<config.optimizer> driven by the config's learning-rate schedule,
  with decoupled weight decay and a moving average of the parameters when the config asks for them."""
  schedule = _SCHEDULES[config.schedule](config, steps_per_epoch)
  optimizer = getattr(optax, config.optimizer)(learning_rate=schedule, **config.optimizer_kwargs.to_dict())
  weight_decay = config.get("weight_decay", 0.0)   # absent from configs saved before it existed
  if weight_decay:
    # Decoupled weight decay (AdamW's): each step also moves every parameter by -lr(t) wd theta.
    optimizer = optax.chain(optimizer, optax.add_decayed_weights(lambda step: -weight_decay * schedule(step)))
  ema_decay = config.get("ema_decay", 0.0)   # absent from configs saved before it existed
  if ema_decay:
    optimizer = optax.chain(optimizer, averaging.parameter_average(ema_decay))
  return optimizer, schedule


def create_train_state(config: Config, optimizer: optax.GradientTransformation) -> TrainState:
  """The state at step 0: initial parameters from the config's seed and architecture."""
  init_key, rng = jax.random.split(jax.random.PRNGKey(config.seed))
  params = model.init_params(init_key, tuple(config.layer_sizes), weight_init=config.weight_init,
                             bias_init=config.bias_init,
                             deterministic_layers=config.get("deterministic_layers", 0))
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
                    rng=rng)


def load_split(config: Config, split: str) -> np.ndarray:
  """(N, D) data of a split. Validation and test splits of a dynamically binarized data set
  are binarized once with a fixed key; its training split stays probabilities."""
  x = data.load(config.dataset, split, data_dir=config.data_dir, **config.dataset_options.to_dict())
  if split != "train" and data.is_dynamic(config.dataset):
    key = jax.random.PRNGKey(_EVAL_BINARIZATION_SEEDS[split])
    x = np.asarray(jax.random.bernoulli(key, x), np.float32)
  return x


def make_train_epoch(loss_fn: LossFn, optimizer: optax.GradientTransformation, schedule: optax.Schedule,
                     batch_size: int, binarize: bool, mesh: jax.sharding.Mesh | None = None
                     ) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
  """The jit-compiled `train_epoch(state, train_x, epoch) -> (state, metrics)`.

  One call runs a whole epoch as a `lax.scan` over the (N // batch_size, batch_size, D)
  batches that `data.epoch_batches` draws from the epoch's key; `state` is donated. With a
  `mesh`, each batch is split over its devices; the state, the data and the metrics are
  replicated.

  Args:
    loss_fn: `(params, key, x) -> (loss, metrics)`, e.g. `bihm_loss` with K bound.
    optimizer: an optax transformation.
    schedule: its learning-rate schedule (logged only).
    batch_size: examples per step (static).
    binarize: draw a fresh binarization of the data every epoch.
    mesh: the data mesh to split each batch over (batch_size a multiple of its size); None:
      a plain jit on the default device.

  Returns:
    The epoch function; `metrics` holds (num_steps,) arrays: the loss metrics, "loss",
    "grad_norm_p", "grad_norm_q", "learning_rate" and "finite" (loss and updated
    parameters all finite).
  """

  def train_step(state: TrainState, x: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    key = _stream_key(state.rng, _TRAIN_STREAM, state.step)
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, key, x)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.isfinite(loss)
    for leaf in jax.tree.leaves(params):
      finite &= jnp.all(jnp.isfinite(leaf))
    metrics = dict(metrics, loss=loss, grad_norm_p=optax.tree.norm(grads["p"]),
                   grad_norm_q=optax.tree.norm(grads["q"]), learning_rate=schedule(state.step),
                   finite=finite)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  def train_epoch(state: TrainState, train_x: jax.Array, epoch: jax.Array):
    batches = data.epoch_batches(_stream_key(state.rng, _DATA_STREAM, epoch), train_x, batch_size,
                                 binarize=binarize)
    if mesh is not None:
      batches = jax.lax.with_sharding_constraint(batches, distributed.batch_sharding(mesh, axis=1))
    return jax.lax.scan(train_step, state, batches)

  if mesh is None:
    return jax.jit(train_epoch, donate_argnums=0)
  replicated = distributed.replicated(mesh)
  return jax.jit(train_epoch, donate_argnums=0, in_shardings=replicated, out_shardings=replicated)


def _initial_loop() -> dict[str, Any]:
  """Bookkeeping of the epoch loop, checkpointed with the state."""
  return {"epoch": 0, "best_epoch": 0, "best_valid": -math.inf, "epochs_without_improvement": 0,
          "train_seconds": 0.0}


def _checkpoint_paths(workdir: str) -> tuple[str, str]:
  folder = os.path.join(workdir, "checkpoints")
  return os.path.join(folder, "latest.msgpack"), os.path.join(folder, "best.msgpack")


def _restore(path: str, config: Config, optimizer: optax.GradientTransformation) -> dict[str, Any] | None:
  """{"state", "loop"} from a checkpoint of a run of `config`, or None."""
  return checkpoints.restore(path, {"state": create_train_state(config, optimizer), "loop": _initial_loop()})


def load_config(workdir: str) -> Config:
  """The config saved by the latest training run in `workdir`."""
  with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
    return Config(json.load(f))


def load_checkpoint(workdir: str, which: str = "best") -> tuple[Config, TrainState, dict[str, Any]]:
  """`(config, state, loop)` of a training run's "best" or "latest" checkpoint; `loop` is the
  epoch loop's bookkeeping (epoch, best_epoch, best_valid: the best validation score of
  `valid_criterion(config)`, epochs_without_improvement, train_seconds: time spent in epochs and
  validation over all runs in the workdir)."""
  config = load_config(workdir)
  path = dict(zip(("latest", "best"), _checkpoint_paths(workdir)))[which]
  restored = _restore(path, config, make_optimizer(config, steps_per_epoch=1)[0])
  if restored is None:
    raise FileNotFoundError(f"no checkpoint at {path}")
  return config, restored["state"], restored["loop"]


def evaluate_workdir(workdir: str, *, ks: Sequence[int] | None = None, z_samples: int | None = None,
                     checkpoint: str = "best", seed: int = 0) -> dict[str, Any]:
  """Evaluates a training run's checkpoint on its test split; process 0 writes `workdir/eval/`.

  An interrupted evaluation resumes where it stopped when rerun with the same arguments (its
  progress is saved in `workdir/eval/`).

  Returns:
    The summary of `bihm_jax.evaluation.evaluate`, with the checkpoint's name added.
  """
  config, state, _ = load_checkpoint(workdir, checkpoint)
  summary, arrays = evaluation.evaluate(
      state.eval_params, jax.random.PRNGKey(seed), load_split(config, "test"),
      ks=tuple(config.eval_ks) if ks is None else tuple(ks),
      z_samples=config.z_samples if z_samples is None else z_samples,
      z_inner_k=config.z_inner_k, batch_size=config.eval_batch_size, progress_dir=os.path.join(workdir, "eval"))
  summary["checkpoint"] = checkpoint
  if distributed.is_lead_process():
    evaluation.write_results(os.path.join(workdir, "eval"), summary, arrays)
  return summary


def _raise_if_not_finite(finite: np.ndarray, first_step: int, epoch: int, latest_path: str) -> None:
  bad = np.flatnonzero(~finite)
  if bad.size:
    raise FloatingPointError(
        f"non-finite loss or parameters at training step {first_step + int(bad[0])} (epoch {epoch + 1}, "
        f"batch {int(bad[0])}); nothing was saved, the last checkpoint {latest_path} is as it was")


# Fields that fix the structure of the checkpointed state: a run can only resume with the same.
_STATE_FIELDS = ("layer_sizes", "deterministic_layers", "optimizer", "optimizer_kwargs", "weight_decay",
                 "ema_decay")


def _check_resumable(config: Config, workdir: str) -> None:
  """Raises ValueError naming the field when `workdir` holds checkpoints of a run whose state
  has another structure than `config`'s (other fields, e.g. num_epochs, may change)."""
  if not os.path.exists(_checkpoint_paths(workdir)[0]):
    return
  saved = load_config(workdir)
  for field in _STATE_FIELDS:
    old, new = saved.get(field, 0), config.get(field, 0)   # only the decays and depths can be absent
    old, new = (v.to_dict() if isinstance(v, Config) else tuple(v) if isinstance(v, (list, tuple)) else v
                for v in (old, new))
    if old != new:
      raise ValueError(f"config.{field} = {new!r}, but {workdir} holds checkpoints of a run with "
                       f"{field} = {old!r}; resume with the same value or use another workdir")


def train_and_evaluate(config: Config, workdir: str, *,
                       on_epoch_end: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, Any]:
  """Trains (or resumes training) until `num_epochs` or early stopping, then tests the best model.

  Args:
    config: the training config (see `experiments/configs/default.py`).
    workdir: folder of checkpoints, logs and results; an existing run there is resumed.
    on_epoch_end: called as `on_epoch_end(epoch, scalars)` after each epoch's checkpoints are
      written, with the epoch number (from 1) and the scalars logged for it.

  Returns:
    The final metrics, also written to `workdir/summary.json` (by process 0): epochs, steps,
    best_epoch, valid_criterion and best_valid (its best value), stopped_early, train_seconds
    (over all runs in the workdir), run_seconds (this run, loading and testing included) and,
    if `config.test_at_end`, test_bound and test_log_px (means over the test split with
    `valid_k` samples, of the best checkpoint).
  """
  validate_config(config)
  run_start = time.perf_counter()
  train_x, valid_x = load_split(config, "train"), load_split(config, "valid")
  steps_per_epoch = train_x.shape[0] // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"config.batch_size = {config.batch_size} exceeds the {train_x.shape[0]} training "
                     f"examples of dataset {config.dataset!r}")
  _check_resumable(config, workdir)
  lead = distributed.is_lead_process()
  if lead:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
      f.write(config.to_json(indent=2))

  latest_path, best_path = _checkpoint_paths(workdir)
  optimizer, schedule = make_optimizer(config, steps_per_epoch)
  restored = _restore(latest_path, config, optimizer)
  if restored is None:
    state, loop = create_train_state(config, optimizer), _initial_loop()
  else:
    state, loop = restored["state"], restored["loop"]
    logging.info("Resuming from %s after epoch %d.", latest_path, loop["epoch"])
  mesh = distributed.data_mesh()
  state, train_x = distributed.put((state, train_x), distributed.replicated(mesh))
  train_epoch = make_train_epoch(make_loss(config), optimizer, schedule, config.batch_size,
                                 data.is_dynamic(config.dataset), mesh)
  eval_key = jax.random.fold_in(state.rng, _EVAL_STREAM)
  valid_z_key = jax.random.fold_in(state.rng, _VALID_Z_STREAM)
  criterion = valid_criterion(config)

  def save(path: str) -> None:
    if lead:
      checkpoints.save(path, {"state": state, "loop": loop})

  def running() -> bool:
    return loop["epoch"] < config.num_epochs and loop["epochs_without_improvement"] < config.patience

  with tensorboardX.SummaryWriter(workdir, write_to_disk=lead) as writer, tqdm.tqdm(
      total=config.num_epochs, initial=loop["epoch"], unit="epoch",
      disable=None if lead else True) as progress:
    while running():
      first_step, start = loop["epoch"] * steps_per_epoch, time.perf_counter()
      state, metrics = train_epoch(state, train_x, loop["epoch"])
      metrics = jax.device_get(metrics)
      seconds = time.perf_counter() - start
      _raise_if_not_finite(metrics.pop("finite"), first_step, loop["epoch"], latest_path)
      loop["epoch"] += 1
      epoch, step = loop["epoch"], first_step + steps_per_epoch
      scalars = {f"train/{name}": float(np.mean(values)) for name, values in metrics.items()}
      scalars["train/examples_per_sec"] = steps_per_epoch * config.batch_size / seconds

      if epoch % config.valid_every_epochs == 0 or epoch == config.num_epochs:
        bound, log_px = evaluation.batched_estimates(state.eval_params, eval_key, valid_x, config.valid_k,
                                                     config.eval_batch_size, desc="validation", mesh=mesh)
        scalars["valid/bound"], scalars["valid/log_px"] = float(np.mean(bound)), float(np.mean(log_px))
        if config.valid_z_samples:
          log_z2, _ = distributed.estimate_log_z2(state.eval_params, valid_z_key, config.valid_z_samples,
                                                  config.z_inner_k, mesh)
          scalars["valid/log_z2"] = float(log_z2)
          scalars["valid/log_pstar"] = scalars["valid/bound"] - scalars["valid/log_z2"]
        if scalars[criterion] > loop["best_valid"]:
          loop.update(best_epoch=epoch, best_valid=scalars[criterion], epochs_without_improvement=0)
          save(best_path)
        else:
          loop["epochs_without_improvement"] += config.valid_every_epochs
      loop["train_seconds"] += time.perf_counter() - start
      if epoch % config.checkpoint_every_epochs == 0 or not running():
        save(latest_path)

      for name, value in scalars.items():
        writer.add_scalar(name, value, step)
      logging.info("epoch %d, step %d: %s", epoch, step,
                   ", ".join(f"{name} {value:.4g}" for name, value in scalars.items()))
      progress.set_postfix(step=step, bound=f"{scalars['train/bound']:.3f}",
                           valid=f"{loop['best_valid']:.3f}",
                           ex_s=f"{scalars['train/examples_per_sec']:.0f}")
      progress.update()
      if on_epoch_end is not None:
        on_epoch_end(epoch, scalars)

    summary = {
        "epochs": loop["epoch"],
        "steps": loop["epoch"] * steps_per_epoch,
        "best_epoch": loop["best_epoch"],
        "valid_criterion": criterion,
        "best_valid": loop["best_valid"],
        "stopped_early": loop["epochs_without_improvement"] >= config.patience,
        "train_seconds": loop["train_seconds"],
    }
    if config.test_at_end:
      distributed.barrier("best checkpoint written")
      best = _restore(best_path, config, optimizer)
      test_bound, test_log_px = evaluation.batched_estimates(
          best["state"].eval_params, eval_key, load_split(config, "test"), config.valid_k, config.eval_batch_size,
          desc="test", mesh=mesh)
      summary.update(test_bound=float(np.mean(test_bound)), test_log_px=float(np.mean(test_log_px)))
      writer.add_scalar("test/bound", summary["test_bound"], summary["steps"])
      writer.add_scalar("test/log_px", summary["test_log_px"], summary["steps"])
    summary["run_seconds"] = time.perf_counter() - run_start
  if lead:
    with open(os.path.join(workdir, "summary.json"), "w", encoding="utf-8") as f:
      json.dump(summary, f, indent=2)
  logging.info("Finished: %s", summary)
  return summary
