"""The defaults every training config starts from: the original code's set-up (reference section 2).

Fields (`python -m experiments.train --config=... --config.FIELD=VALUE` overrides any of them):
  dataset, dataset_options   the data set and the keyword options of `bihm_jax.data.load`
  data_dir                   folder of the data files; None: the data module's default
                             (BIHM_DATA_DIR, else a download)
  layer_sizes                (D, n_1, ..., n_L): data size, then latent layers bottom to top
  latent_candidates          latent layer sizes (n_1, ..., n_L) that `experiments.reproduce`
                             trains and chooses from on validation (default: layer_sizes')
  weight_init, bias_init     as in `bihm_jax.init_params`
  deterministic_layers       tanh hidden layers inside each conditional of p and q, as in
                             `bihm_jax.init_params` (the original code's option); 0: sigmoid
                             belief nets, each conditional one affine map
  method                     "bihm" (BiHM surrogate) or "rws" (reweighted wake-sleep)
  bihm_baseline, rws_sleep   the 1/K baseline of the BiHM q update; the RWS sleep phase
  seed                       initialisation, sampling and data order all derive from it
  k                          importance samples per data point in a training step
  batch_size                 examples per step; the ragged end of an epoch is dropped
  optimizer, optimizer_kwargs  `optax.<optimizer>(learning_rate=schedule, **optimizer_kwargs)`
  weight_decay               decoupled weight decay (AdamW's): each step also moves every
                             parameter by -learning_rate(t) * weight_decay * itself; 0: none
  l2_penalty                 l: adds l * (sum of squared weights of p and q, biases excluded) to
                             the loss, inside the optimizer's gradient (the original code's
                             l2reg, which is l * batch_size as its gradients are batch sums); 0: none
  ema_decay                  d in [0, 1): the optimizer keeps the moving average of the parameters
                             with weights d^(steps ago) (Polyak averaging, `bihm_jax.averaging`), and
                             validation, testing, evaluation and sampling use it; 0: none, they use
                             the parameters themselves
  weight_decay_candidates    the weight decays that `experiments.reproduce` trains with each
                             latent candidate and chooses from on validation (empty: weight_decay)
  learning_rate, schedule    "constant", "cosine" (to 0 at num_epochs), "exponential" or "step"
  decay_rate                 learning-rate factor per epoch of the "exponential" schedule, and at
                             each of decay_epochs of the "step" schedule
  decay_epochs               the epochs after which the "step" schedule multiplies the learning
                             rate by decay_rate; e.g. (560,): learning_rate for epochs 1-560, then
                             learning_rate * decay_rate (so a constant-rate run can be resumed
                             with a decay and its config still describes every step)
  num_epochs                 maximum number of epochs
  patience                   early stopping: epochs without a better validation bound
  valid_every_epochs, valid_k  validation period and the samples K of the validation estimates
  valid_criterion            the validation estimate that early stopping and the best checkpoint
                             follow: "bound" (2 log p~*_K), "log_px" (log p_K) or "log_pstar"
                             (2 log p~*_K - log Z^2, the BiHM's reported estimate); None: the
                             method's own (bihm: "bound", as in the paper; rws: "log_px")
  valid_z_samples            samples of the log Z^2 estimate at each validation (0: none); with
                             them validation also logs valid/log_z2 and valid/log_pstar
  eval_batch_size            data points per call when validating and evaluating
  checkpoint_every_epochs    period of checkpoints/latest.msgpack (also written at the end)
  test_at_end                estimate the best model's test likelihood (K = valid_k) when training
                             ends; off for runs that only compete on validation
  eval_ks, z_samples, z_inner_k  defaults of `experiments.evaluate`: the K values reported
                             on the test split and the samples of the log Z^2 estimate
"""

from collections.abc import Sequence

import ml_collections
from ml_collections import config_dict


def base_config(dataset: str, layer_sizes: Sequence[int]) -> ml_collections.ConfigDict:
  """The default config for training a BiHM of `layer_sizes` on `dataset`."""
  config = ml_collections.ConfigDict()
  config.dataset = dataset
  config.dataset_options = ml_collections.ConfigDict()
  config.data_dir = config_dict.placeholder(str)
  config.layer_sizes = tuple(layer_sizes)
  config.latent_candidates = (tuple(layer_sizes[1:]),)
  config.weight_init = "original"
  config.bias_init = -1.0
  config.deterministic_layers = 0

  config.method = "bihm"
  config.bihm_baseline = True
  config.rws_sleep = False
  config.seed = 0
  config.k = 10
  config.batch_size = 100

  config.optimizer = "adam"
  config.optimizer_kwargs = ml_collections.ConfigDict({"b1": 0.9, "b2": 0.999, "eps": 1e-8})
  config.weight_decay = 0.0
  config.weight_decay_candidates = ()
  config.l2_penalty = 0.0
  config.ema_decay = 0.0
  config.learning_rate = 1e-3
  config.schedule = "constant"
  config.decay_rate = 1.0
  config.decay_epochs = ()

  config.num_epochs = 10000
  config.patience = 10
  config.valid_every_epochs = 1
  config.valid_k = 100
  config.valid_criterion = config_dict.placeholder(str)
  config.valid_z_samples = 0
  config.eval_batch_size = 100
  config.checkpoint_every_epochs = 1
  config.test_at_end = True

  config.eval_ks = (1, 10, 100, 1000, 10000)
  config.z_samples = 1_000_000
  config.z_inner_k = 1
  return config


# The UCI configs' latent architectures: layers that roughly halve in width down to 10, deep like
# the paper's models. Each config's `layer_sizes` starts from the one for its number of variables;
# `experiments.reproduce` chooses among `latent_candidates` on the validation split.
UCI_LATENT_LAYERS = {
    "small": (100, 50, 25, 10),             # fewer than 150 variables
    "medium": (200, 100, 50, 25, 10),       # 150 to 499 variables
    "large": (300, 200, 100, 50, 25, 10),   # 500 variables (nips)
}
