"""Checksummed downloads of the canonical files into a cache folder.

`DOWNLOADS` maps a dataset and split to the file it is read from; the URLs and sha256 values
are the ones tensorflow-datasets lists for its `binarized_mnist` and `mnist` builders. A file
is written under a temporary name, verified, then moved into place; a file whose checksum does
not match is deleted and reported, never used.
"""

import dataclasses
import hashlib
import os
from pathlib import Path
import tempfile
import urllib.request

from bihm_jax.data.formats import DataError

_LAROCHELLE = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist/"
TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class Remote:
  """One split's canonical file: its URL, its sha256 and the rows `[start, stop)` it gives."""

  url: str
  sha256: str
  rows: tuple[int, int | None] = (0, None)

  @property
  def filename(self) -> str:
    return self.url.rsplit("/", 1)[-1]


_MNIST_TRAIN = _MNIST + "train-images-idx3-ubyte.gz"
_MNIST_TRAIN_SHA = "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"

DOWNLOADS: dict[str, dict[str, Remote]] = {
    "binarized_mnist": {
        "train": Remote(_LAROCHELLE + "binarized_mnist_train.amat",
                        "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
        "valid": Remote(_LAROCHELLE + "binarized_mnist_valid.amat",
                        "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
        "test": Remote(_LAROCHELLE + "binarized_mnist_test.amat",
                       "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
    },
    "mnist_dynamic": {  # The first 50k training images, the last 10k, and the test set.
        "train": Remote(_MNIST_TRAIN, _MNIST_TRAIN_SHA, (0, 50000)),
        "valid": Remote(_MNIST_TRAIN, _MNIST_TRAIN_SHA, (50000, None)),
        "test": Remote(_MNIST + "t10k-images-idx3-ubyte.gz",
                       "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    },
}


def default_cache_dir() -> Path:
  """`BIHM_CACHE_DIR` if set, else `~/.cache/bihm_jax`."""
  return Path(os.environ.get("BIHM_CACHE_DIR") or Path.home() / ".cache" / "bihm_jax")


def sha256_of(path: str | os.PathLike) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def fetch(remote: Remote, cache_dir: str | os.PathLike) -> Path:
  """The verified local copy of `remote` in `cache_dir`, downloaded if it is not there yet.

  A cached copy is verified again on every use; one that no longer matches is deleted and
  downloaded afresh.

  Raises:
    DataError: the downloaded file's sha256 is not `remote.sha256` (the file is deleted).
    OSError: the download failed (urllib.error.URLError is an OSError).
  """
  path = Path(cache_dir) / remote.filename
  if path.exists():
    if sha256_of(path) == remote.sha256:
      return path
    path.unlink()
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{remote.filename}.", suffix=".part")
  try:
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=TIMEOUT_S) as response:
      for chunk in iter(lambda: response.read(1 << 20), b""):
        digest.update(chunk)
        out.write(chunk)
    if digest.hexdigest() != remote.sha256:
      raise DataError(f"{remote.url}: sha256 of the download is {digest.hexdigest()}, expected "
                      f"{remote.sha256}; the file was deleted")
    os.replace(part, path)
  finally:
    if os.path.exists(part):
      os.remove(part)
  return path
