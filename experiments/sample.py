"""Draws samples of p and of p* (Gibbs chains), and inpaints test data, from a trained model.

  python -m experiments.sample --workdir=/tmp/bihm_mnist [--num_chains=16] [--iterations=200] \
      [--snapshots=0,1,2,5,10,20,50,100,200] [--m=20] [--inner_k=5] [--outdir=DIR]

The chains use the exactly invariant i-SIR update (`--plain_sir` for the paper's resampling),
so M and inner K trade cost against mixing only; the defaults take a few minutes on a CPU for
the MNIST model (the original used M = 1000).

Writes to `--outdir` (default `workdir/samples`):
  samples_p.npy                 (N, D) ancestral samples of the top-down model p
  gibbs_chains.npy              (N, S, D) x of the p* Gibbs chains at the S snapshot iterations;
                                the chains start from the ancestral samples above
  samples_pstar_is.npy          (N, D) one-shot importance-resampling samples of p* (M proposals from p)
  inpaint_<half>.npy            (E, C + 2, D) for each observed half: E test examples evenly
                                spaced through the test split (sorted by class in binarized
                                MNIST), then for each: the test example, the
                                observed half (unobserved pixels dark grey), then C chains' x after
                                `--iterations` sweeps
and, for image datasets (binarized MNIST, dynamic MNIST, OCR letters), a PNG grid of each:
samples_p.png, gibbs_chains.png (one row per chain, one column per snapshot),
samples_pstar_is.png and inpaint_<half>.png (one row per test example). Non-image datasets get
the p and p* samples as arrays only.
"""

import os

from absl import app, flags, logging
import jax
import numpy as np

from bihm_jax import images, sampling, training

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a training run.")
_OUTDIR = flags.DEFINE_string("outdir", None, "Output folder (default: workdir/samples).")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint to sample.")
_NUM_CHAINS = flags.DEFINE_integer("num_chains", 16, "Gibbs chains (and samples of p) to draw.")
_ITERATIONS = flags.DEFINE_integer("iterations", 200, "Gibbs sweeps per chain.")
_SNAPSHOTS = flags.DEFINE_list("snapshots", "0,1,2,5,10,20,50,100,200",
                               "Iterations at which the chains' x is recorded (<= --iterations).")
_M = flags.DEFINE_integer("m", 20, "Proposals per conditional.")
_INNER_K = flags.DEFINE_integer("inner_k", 5, "Samples of each p~*(x) estimate.")
_PLAIN_SIR = flags.DEFINE_bool("plain_sir", False, "Use the paper's plain resampling instead of the "
                               "exactly invariant i-SIR update.")
_INPAINT_EXAMPLES = flags.DEFINE_integer("inpaint_examples", 6, "Test examples to inpaint.")
_INPAINT_CHAINS = flags.DEFINE_integer("inpaint_chains", 5, "Chains per inpainted example.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")
flags.mark_flag_as_required("workdir")


def _save(outdir: str, name: str, array: np.ndarray, shape: tuple[int, int] | None, rows: int,
          cols: int) -> None:
  """Writes `name`.npy and, for images, `name`.png of the (..., D) array on a rows x cols grid."""
  np.save(os.path.join(outdir, f"{name}.npy"), array)
  if shape is not None:
    path = os.path.join(outdir, f"{name}.png")
    images.save_grid(path, np.reshape(array, (-1,) + shape), rows, cols)
    logging.info("wrote %s", path)


def _gibbs_snapshots(params, key, chains: sampling.Chain, snapshots: list[int], **kwargs) -> np.ndarray:
  """(B, S, D) x of the chains at the snapshot iterations (sorted, from 0)."""
  xs, done = [], 0
  for snapshot in snapshots:
    chains = sampling.run_chains(params, key, chains, snapshot - done, first_iteration=done, **kwargs)
    done = snapshot
    xs.append(np.asarray(chains.states[0]))
  return np.stack(xs, axis=1)


def sample_workdir(workdir: str, outdir: str, *, checkpoint: str = "best", num_chains: int = 16,
                   iterations: int = 200, snapshots: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200),
                   m: int = 20, inner_k: int = 5, exact: bool = True, inpaint_examples: int = 6,
                   inpaint_chains: int = 5, seed: int = 0) -> None:
  """Writes the samples of a training run's checkpoint to `outdir` (see the module docstring)."""
  snapshots = sorted(set(snapshots))
  if snapshots[0] < 0 or snapshots[-1] > iterations:
    raise ValueError(f"snapshots {snapshots} must lie in [0, iterations = {iterations}]")
  config, state, _ = training.load_checkpoint(workdir, checkpoint)
  params, shape = state.eval_params, images.image_shape(config.dataset)
  os.makedirs(outdir, exist_ok=True)
  keys = jax.random.split(jax.random.PRNGKey(seed), 5)
  sweep = dict(m=m, inner_k=inner_k, exact=exact)
  cols = int(np.ceil(np.sqrt(num_chains)))
  rows = -(-num_chains // cols)

  chains = sampling.chains_from_p(params, keys[0], num_chains, inner_k)
  _save(outdir, "samples_p", np.asarray(chains.states[0]), shape, rows, cols)
  _save(outdir, "gibbs_chains", _gibbs_snapshots(params, keys[1], chains, snapshots, **sweep), shape,
        num_chains, len(snapshots))
  x_is, _ = sampling.importance_resampling_samples(params, keys[2], num_chains, m, inner_k)
  _save(outdir, "samples_pstar_is", np.asarray(x_is), shape, rows, cols)
  if shape is None:
    return

  test_x = training.load_split(config, "test")
  test_x = test_x[np.linspace(0, len(test_x) - 1, inpaint_examples).astype(int)]  # spread over the classes
  x = np.repeat(test_x, inpaint_chains, axis=0)  # chains of example e: rows e*C .. e*C + C - 1
  starts = np.asarray(sampling.chains_from_p(params, keys[3], len(x), inner_k).states[0])
  for i, half in enumerate(images.HALVES):
    mask = np.broadcast_to(images.half_mask(shape, half), x.shape)
    chains = sampling.chains_from_q(params, jax.random.fold_in(keys[4], i), np.where(mask, x, starts),
                                    inner_k)
    chains = sampling.run_chains(params, jax.random.fold_in(keys[4], 10 + i), chains, iterations,
                                 mask=mask, **sweep)
    filled = np.asarray(chains.states[0]).reshape(inpaint_examples, inpaint_chains, -1)
    observed = np.where(images.half_mask(shape, half), test_x, 0.25)
    _save(outdir, f"inpaint_{half}", np.concatenate([test_x[:, None], observed[:, None], filled], axis=1),
          shape, inpaint_examples, inpaint_chains + 2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  outdir = _OUTDIR.value or os.path.join(_WORKDIR.value, "samples")
  sample_workdir(_WORKDIR.value, outdir, checkpoint=_CHECKPOINT.value, num_chains=_NUM_CHAINS.value,
                 iterations=_ITERATIONS.value, snapshots=tuple(int(s) for s in _SNAPSHOTS.value),
                 m=_M.value, inner_k=_INNER_K.value, exact=not _PLAIN_SIR.value,
                 inpaint_examples=_INPAINT_EXAMPLES.value, inpaint_chains=_INPAINT_CHAINS.value,
                 seed=_SEED.value)
  logging.info("samples in %s", outdir)


if __name__ == "__main__":
  app.run(main)
