"""Where the time of one training step goes: a profile of the compiled step, op by op.

  python -m benchmarks.profile_step [--batch=100] [--k=10] [--method=bihm] [--steps=10]
      [--top=15] [--json=benchmarks/results/profile_step.json]

Traces `--steps` calls of the training program's epoch function on one batch of the MNIST
12-layer model with `jax.profiler`, reads the trace back with `jax.profiler.ProfileData`, and
sums the time of the XLA CPU worker threads per op and per kind of op: matmuls (YNNPACK fusions
and dots), the threefry generator (while loops), layout copies, and elementwise fusions. Also
reports how busy the worker threads were: (busy thread time) / (threads x wall time).
"""

import collections
import glob
import re
import tempfile
import time

from absl import app, flags
import jax

from benchmarks import common

_BATCH = flags.DEFINE_integer("batch", 100, "Examples per step B.")
_K = flags.DEFINE_integer("k", 10, "Importance samples K.")
_METHOD = flags.DEFINE_enum("method", "bihm", ["bihm", "rws"], "Training method.")
_STEPS = flags.DEFINE_integer("steps", 10, "Traced steps.")
_TOP = flags.DEFINE_integer("top", 15, "Most expensive ops to list.")
_JSON = flags.DEFINE_string("json", "benchmarks/results/profile_step.json", "Output JSON ('' for none).")

_WORKER_PREFIX = "tf_XLAEigen"


def _kind(op: str) -> str:
  if op.startswith(("ynn_fusion", "dot")):
    return "matmul"
  if op.startswith("while"):
    return "threefry (while loops)"
  if "copy" in op:
    return "layout copies"
  if "fusion" in op or op.startswith(("wrapped", "broadcast", "negate", "multiply", "add")):
    return "elementwise and reductions"
  return "other"


def main(argv):
  del argv
  x = jax.numpy.asarray(common.mnist_train_x()[:_BATCH.value])
  run = common.training_call(_METHOD.value, _BATCH.value, _K.value, x)
  jax.block_until_ready(run())
  with tempfile.TemporaryDirectory() as folder:
    jax.profiler.start_trace(folder)
    start = time.perf_counter()
    for _ in range(_STEPS.value):
      jax.block_until_ready(run())
    wall = (time.perf_counter() - start) / _STEPS.value
    jax.profiler.stop_trace()
    profile = jax.profiler.ProfileData.from_file(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[-1])
  per_op, threads = collections.Counter(), set()
  for plane in profile.planes:
    for line in plane.lines:
      if not line.name.startswith(_WORKER_PREFIX):
        continue
      for event in line.events:
        if event.name.startswith(("ThunkExecutor", "SlinkyThreadPool")):
          continue
        threads.add(line.name)
        per_op[re.sub(r"\.\d+$", "", event.name) if event.name.startswith("while") else event.name] += (
            event.duration_ns / 1e9 / _STEPS.value)
  per_kind = collections.Counter()
  for op, seconds in per_op.items():
    per_kind[_kind(op)] += seconds
  busy = sum(per_kind.values())
  flops = common.training_flops(common.MNIST_SIZES, _BATCH.value, _K.value)
  print(f"step: {wall * 1e3:.2f} ms wall, {flops / wall / 1e9:.1f} GFLOP/s essential; "
        f"{len(threads)} worker threads busy {busy * 1e3:.2f} ms "
        f"({busy / max(len(threads), 1) / wall:.0%} of their wall time)")
  rows = [{"kind": kind, "ms_per_step": seconds * 1e3, "share": seconds / busy}
          for kind, seconds in per_kind.most_common()]
  common.report(rows, [("kind", "s"), ("ms_per_step", ".2f"), ("share", ".3f")], None, {})
  print(f"\nthe {_TOP.value} most expensive ops (thread time per step):")
  for op, seconds in per_op.most_common(_TOP.value):
    print(f"  {seconds * 1e3:7.3f} ms  {op}")
  common.write_json(_JSON.value, {
      "benchmark": "profile_step", "rows": rows, "B": _BATCH.value, "K": _K.value, "method": _METHOD.value,
      "wall_ms": wall * 1e3, "busy_thread_ms": busy * 1e3, "threads": len(threads),
      "top_ops_ms": {op: seconds * 1e3 for op, seconds in per_op.most_common(_TOP.value)}})


if __name__ == "__main__":
  app.run(main)
