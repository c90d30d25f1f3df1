"""The datasets `bihm_jax.data` knows: dimension, split sizes, kind, local file and TFDS name."""

import dataclasses
from typing import Any

SPLITS = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True)
class Spec:
  """What is known about one dataset without loading it.

  Attributes:
    dim: D, the number of visible units.
    kind: "binary" (stored 0/1 rows), "grey" (stored grey levels 0..255, served as
      probabilities for dynamic binarization) or "synthetic" (generated on request).
    sizes: rows of each split, checked on every load (a wrong count means a truncated
      file or a different split); None for synthetic data.
    local_file: the `.npz` file looked for in a local data folder.
    tfds: the TFDS dataset name and the TFDS split of each of our splits, or None.
    options: keyword options `load` accepts for this dataset.
  """

  dim: int
  kind: str = "binary"
  sizes: dict[str, int] | None = None
  local_file: str | None = None
  tfds: tuple[str, dict[str, str]] | None = None
  options: frozenset[str] = frozenset()


def _uci(dim: int, train: int, valid: int, test: int) -> Spec:
  return Spec(dim, sizes={"train": train, "valid": valid, "test": test})


DATASETS: dict[str, Spec] = {
    "binarized_mnist": Spec(
        784, sizes={"train": 50000, "valid": 10000, "test": 10000},
        tfds=("binarized_mnist", {"train": "train", "valid": "validation", "test": "test"})),
    "mnist_dynamic": Spec(
        784, kind="grey", sizes={"train": 50000, "valid": 10000, "test": 10000},
        local_file="mnist_raw.npz",
        tfds=("mnist", {"train": "train[:50000]", "valid": "train[50000:]", "test": "test"})),
    "adult": _uci(123, 5000, 1414, 26147),
    "connect4": _uci(126, 16000, 4000, 47557),
    "dna": _uci(180, 1400, 600, 1186),
    "mushrooms": _uci(112, 2000, 500, 5624),
    "nips": _uci(500, 400, 100, 1240),
    "ocr_letters": _uci(128, 32152, 10000, 10000),
    "rcv1": _uci(150, 40000, 10000, 150000),
    "web": _uci(300, 14000, 3188, 32561),
    "synthetic": Spec(0, kind="synthetic",
                      options=frozenset({"layer_sizes", "seed", "num_examples"})),
}


def spec(name: str, split: str | None = None, options: dict[str, Any] | None = None) -> Spec:
  """The Spec of `name`, after checking the name, the split and the option names.

  Raises:
    ValueError: naming the known datasets, splits or options.
  """
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
  found = DATASETS[name]
  if split is not None and split not in SPLITS:
    raise ValueError(f"unknown split {split!r} for dataset {name!r}; choose from {SPLITS}")
  unknown = set(options or {}) - found.options
  if unknown:
    accepted = ", ".join(sorted(found.options)) or "none"
    raise ValueError(f"unknown options {sorted(unknown)} for dataset {name!r}; it accepts: {accepted}")
  return found


def local_file(name: str) -> str:
  """The `.npz` file name that holds `name` in a local data folder."""
  return DATASETS[name].local_file or f"{name}.npz"


def is_dynamic(name: str) -> bool:
  """True for datasets binarized afresh each epoch (grey-level probabilities): mnist_dynamic."""
  return spec(name).kind == "grey"
