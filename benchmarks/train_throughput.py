"""Training throughput of the paper's 12-layer MNIST model: steps and whole epochs.

  python -m benchmarks.train_throughput [--shapes=100x10,100x100,1000x10] [--methods=bihm,rws]
      [--steps=20] [--epochs=2] [--prng_impl=threefry2x32] [--data_parallel]
      [--json=benchmarks/results/train_throughput.json]

Times the training program's own jit-compiled epoch function (`training.make_train_epoch`):
a "step" is one call on exactly B examples, an "epoch" one call on binarized MNIST's 50k
training examples (a `lax.scan` over its minibatches). Reports the median time, examples/s
and the achieved rate of essential matmul work (`common.training_flops`) as a fraction of
the float32 matmul peak measured in the same run. Uses the real training split when
BIHM_DATA_DIR has it, else random bits of the same density.
"""

from absl import app, flags
import jax

from benchmarks import common
from bihm_jax import distributed

_SHAPES = flags.DEFINE_list("shapes", ["100x10", "100x100", "1000x10"], "BxK pairs to time.")
_METHODS = flags.DEFINE_list("methods", ["bihm", "rws"], "Training methods.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per shape (median reported).")
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Timed full epochs at the first shape (0: none).")
_PRNG_IMPL = flags.DEFINE_enum("prng_impl", "threefry2x32", ["threefry2x32", "rbg", "unsafe_rbg"],
                                "JAX's PRNG implementation (jax_default_prng_impl).")
_DATA_PARALLEL = flags.DEFINE_bool("data_parallel", False,
                                   "Split each batch over all devices (e.g. JAX_NUM_CPU_DEVICES=4).")
_JSON = flags.DEFINE_string("json", "benchmarks/results/train_throughput.json", "Output JSON ('' for none).")


def main(argv):
  del argv
  jax.config.update("jax_default_prng_impl", _PRNG_IMPL.value)
  peak = common.matmul_peak_flops()
  print(f"float32 matmul peak: {peak / 1e9:.1f} GFLOP/s on {common.machine()['device']}")
  train_x = common.mnist_train_x()
  mesh = distributed.data_mesh() if _DATA_PARALLEL.value else None
  shapes = [tuple(int(v) for v in s.split("x")) for s in _SHAPES.value]
  rows = []
  for method in _METHODS.value:
    for i, (batch, k) in enumerate(shapes):
      runs = [("step", train_x[:batch], _STEPS.value)]
      if i == 0 and _EPOCHS.value:
        runs.append(("epoch", train_x, _EPOCHS.value))
      for unit, x, repeats in runs:
        seconds = common.median_seconds(common.training_call(method, batch, k, x, mesh), warmup=1,
                                        repeats=repeats)
        steps = len(x) // batch
        flops = steps * common.training_flops(common.MNIST_SIZES, batch, k)
        rows.append({"method": method, "B": batch, "K": k, "unit": unit, "seconds": seconds,
                     "examples_per_s": steps * batch / seconds, "gflops": flops / seconds / 1e9,
                     "fraction_of_peak": flops / seconds / peak})
  common.report(rows, [("method", "s"), ("B", "d"), ("K", "d"), ("unit", "s"), ("seconds", ".4f"),
                       ("examples_per_s", ".0f"), ("gflops", ".1f"), ("fraction_of_peak", ".3f")],
                _JSON.value, {"benchmark": "train_throughput", "matmul_peak_gflops": peak / 1e9,
                              "prng_impl": _PRNG_IMPL.value, "data_parallel": _DATA_PARALLEL.value})


if __name__ == "__main__":
  app.run(main)
