"""bihm_jax.data loading: real data, the .amat reader, downloads, TFDS, and every bad input."""

import dataclasses
import gzip
import hashlib
import http.server
import os
from pathlib import Path
import struct
import threading

import numpy as np
import pytest

from bihm_jax import data
from bihm_jax.data import catalog, download, formats

REAL_DATA_DIR = os.environ.get("BIHM_DATA_DIR")
needs_real_data = pytest.mark.skipif(not REAL_DATA_DIR, reason="BIHM_DATA_DIR is not set")

# sha256 of Larochelle's binarized_mnist_{split}.amat, as tensorflow-datasets lists them.
TFDS_AMAT_SHA256 = {
    "train": "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
    "valid": "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
    "test": "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
}

# Published (train, valid, test, D) of the UCI binary benchmarks (Larochelle et al., 2010).
UCI_SHAPES = {
    "adult": (5000, 1414, 26147, 123),
    "connect4": (16000, 4000, 47557, 126),
    "dna": (1400, 600, 1186, 180),
    "mushrooms": (2000, 500, 5624, 112),
    "nips": (400, 100, 1240, 500),
    "ocr_letters": (32152, 10000, 10000, 128),
    "rcv1": (40000, 10000, 150000, 150),
    "web": (14000, 3188, 32561, 300),
}

TINY_SIZES = {"train": 6, "valid": 3, "test": 2}


@pytest.fixture(autouse=True)
def _no_ambient_sources(monkeypatch, tmp_path):
  """Each test sees only the folders it names: no BIHM_DATA_DIR, a private download cache."""
  monkeypatch.delenv("BIHM_DATA_DIR", raising=False)
  monkeypatch.setenv("BIHM_CACHE_DIR", str(tmp_path / "default_cache"))


@pytest.fixture
def tiny(monkeypatch):
  """binarized_mnist and mnist_dynamic with TINY_SIZES splits, so that tests write small files."""
  for name in ("binarized_mnist", "mnist_dynamic"):
    monkeypatch.setitem(catalog.DATASETS, name,
                        dataclasses.replace(catalog.DATASETS[name], sizes=TINY_SIZES))


def _binary(seed: int, n: int, d: int = 784) -> np.ndarray:
  return (np.random.default_rng(seed).random((n, d)) < 0.3).astype(np.uint8)


def _tiny_mnist() -> dict[str, np.ndarray]:
  return {split: _binary(i, n) for i, (split, n) in enumerate(TINY_SIZES.items())}


# Real data, through BIHM_DATA_DIR.


@needs_real_data
def test_real_binarized_mnist_hashes_to_tfds_amat_checksums(monkeypatch, tmp_path):
  monkeypatch.setenv("BIHM_DATA_DIR", REAL_DATA_DIR)
  for split, n in (("train", 50000), ("valid", 10000), ("test", 10000)):
    x = data.load("binarized_mnist", split)
    assert x.shape == (n, 784) and x.dtype == np.uint8
    formats.write_amat(tmp_path / "split.amat", x)
    assert download.sha256_of(tmp_path / "split.amat") == TFDS_AMAT_SHA256[split], split
  (tmp_path / "split.amat").unlink()  # 78 MB; pytest keeps old temporary folders.


@needs_real_data
@pytest.mark.parametrize("name", sorted(UCI_SHAPES))
def test_real_uci_shapes(name):
  if not (Path(REAL_DATA_DIR) / f"{name}.npz").exists():
    pytest.skip(f"{name}.npz is not in BIHM_DATA_DIR")
  *sizes, dim = UCI_SHAPES[name]
  for split, n in zip(data.SPLITS, sizes):
    x = data.load(name, split, data_dir=REAL_DATA_DIR, source="local")
    assert x.shape == (n, dim) and x.dtype == np.uint8
    assert 0 < x.mean() < 1
  assert data.dimension(name) == dim


@needs_real_data
def test_real_mnist_dynamic_is_grey_level_probabilities():
  valid = data.load("mnist_dynamic", "valid", data_dir=REAL_DATA_DIR)
  assert valid.shape == (10000, 784) and valid.dtype == np.float32
  assert valid.min() == 0.0 and valid.max() == 1.0
  assert len(np.unique(valid)) > 100  # Grey levels, not a binarization.
  np.testing.assert_allclose(valid * 255, np.round(valid * 255), atol=1e-4)
  assert data.is_dynamic("mnist_dynamic") and not data.is_dynamic("binarized_mnist")


# Local folders: .npz and .amat.


def test_write_amat_layout_and_read_amat_round_trip(tmp_path):
  formats.write_amat(tmp_path / "a.amat", np.array([[0, 1, 1], [1, 0, 0]]))
  assert (tmp_path / "a.amat").read_bytes() == b"0 1 1\n1 0 0\n"
  x = _binary(0, 17, 31)
  formats.write_amat(tmp_path / "b.amat", x)
  back = formats.read_amat(tmp_path / "b.amat")
  assert back.dtype == np.uint8
  np.testing.assert_array_equal(back, x)
  with pytest.raises(ValueError, match="0s and 1s"):
    formats.write_amat(tmp_path / "c.amat", np.array([[0, 2]]))


def test_read_amat_accepts_float_text_and_other_line_ends(tmp_path):
  (tmp_path / "f.amat").write_bytes(b"0.0 1.0 1\r\n1 0 0.0 \r\n")
  np.testing.assert_array_equal(formats.check_binary(formats.read_amat(tmp_path / "f.amat"), 3, "f"),
                                [[0, 1, 1], [1, 0, 0]])


def test_local_folder_npz_amat_and_environment_variable(tiny, monkeypatch, tmp_path):
  arrays = _tiny_mnist()
  npz_dir, amat_dir = tmp_path / "npz", tmp_path / "amat"
  npz_dir.mkdir()
  amat_dir.mkdir()
  np.savez_compressed(npz_dir / "binarized_mnist.npz", **arrays)
  for split, x in arrays.items():
    formats.write_amat(amat_dir / f"binarized_mnist_{split}.amat", x)
  for split, x in arrays.items():
    np.testing.assert_array_equal(data.load("binarized_mnist", split, data_dir=npz_dir), x)
    np.testing.assert_array_equal(data.load("binarized_mnist", split, data_dir=amat_dir), x)
  monkeypatch.setenv("BIHM_DATA_DIR", str(amat_dir))
  np.testing.assert_array_equal(data.load("binarized_mnist", "valid", source="local"), arrays["valid"])
  # The .npz file wins over .amat files in the same folder.
  np.savez_compressed(amat_dir / "binarized_mnist.npz", **{k: 1 - v for k, v in arrays.items()})
  np.testing.assert_array_equal(data.load("binarized_mnist", "test"), 1 - arrays["test"])


# Downloads from a local HTTP server.


class _Server:
  """An HTTP server on 127.0.0.1 serving the files of a folder from a thread; counts GETs."""

  def __init__(self, root: Path):
    server = self

    class Handler(http.server.SimpleHTTPRequestHandler):

      def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(root), **kwargs)

      def do_GET(self):
        server.requests += 1
        super().do_GET()

      def log_message(self, *args):
        pass

    self.requests = 0
    self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
    self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                   daemon=True)
    self.thread.start()

  def stop(self):
    self.httpd.shutdown()
    self.httpd.server_close()
    self.thread.join()


@pytest.fixture
def server(tmp_path, monkeypatch):
  monkeypatch.setenv("no_proxy", "127.0.0.1")
  root = tmp_path / "served"
  root.mkdir()
  s = _Server(root)
  yield root, s
  if s.thread.is_alive():
    s.stop()


def _serve_mnist(root: Path, url: str, monkeypatch, corrupt: str | None = None) -> dict[str, np.ndarray]:
  """Writes the tiny splits as .amat files under `root` and points DOWNLOADS at them."""
  arrays = _tiny_mnist()
  remotes = {}
  for split, x in arrays.items():
    formats.write_amat(root / f"binarized_mnist_{split}.amat", x)
    sha = download.sha256_of(root / f"binarized_mnist_{split}.amat")
    remotes[split] = download.Remote(f"{url}binarized_mnist_{split}.amat",
                                     "0" * 64 if split == corrupt else sha)
  monkeypatch.setitem(download.DOWNLOADS, "binarized_mnist", remotes)
  return arrays


def test_download_verifies_caches_and_then_works_offline(tiny, server, monkeypatch, tmp_path):
  root, s = server
  arrays = _serve_mnist(root, s.url, monkeypatch)
  cache = tmp_path / "cache"
  x = data.load("binarized_mnist", "train", cache_dir=cache)
  np.testing.assert_array_equal(x, arrays["train"])
  assert sorted(p.name for p in cache.iterdir()) == ["binarized_mnist_train.amat"]
  assert s.requests == 1
  s.stop()
  np.testing.assert_array_equal(data.load("binarized_mnist", "train", source="download",
                                          cache_dir=cache), arrays["train"])
  # Without cache_dir, BIHM_CACHE_DIR names the cache; nothing is there and the server is gone.
  with pytest.raises(data.DataError, match="downloading .*binarized_mnist_valid.amat failed"):
    data.load("binarized_mnist", "valid", source="download")


def test_download_with_a_bad_checksum_raises_and_keeps_no_file(tiny, server, monkeypatch, tmp_path):
  root, s = server
  _serve_mnist(root, s.url, monkeypatch, corrupt="valid")
  cache = tmp_path / "cache"
  with pytest.raises(data.DataError, match="binarized_mnist_valid.amat: sha256 of the download is"):
    data.load("binarized_mnist", "valid", cache_dir=cache)
  assert list(cache.iterdir()) == []
  # A cached file that no longer matches is replaced by a fresh download.
  (cache / "binarized_mnist_test.amat").write_bytes(b"0 1\n")
  x = data.load("binarized_mnist", "test", cache_dir=cache)
  assert x.shape == (2, 784) and s.requests == 2


def _idx_gz(path: Path, images: np.ndarray) -> str:
  n = len(images)
  with gzip.open(path, "wb") as f:
    f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.astype(np.uint8).tobytes())
  return download.sha256_of(path)


def test_download_of_mnist_idx_files_for_dynamic_binarization(tiny, server, monkeypatch, tmp_path):
  root, s = server
  rng = np.random.default_rng(0)
  train, test = rng.integers(0, 256, (9, 784)), rng.integers(0, 256, (2, 784))
  train_sha, test_sha = _idx_gz(root / "train.gz", train), _idx_gz(root / "test.gz", test)
  monkeypatch.setitem(download.DOWNLOADS, "mnist_dynamic", {
      "train": download.Remote(s.url + "train.gz", train_sha, (0, 6)),
      "valid": download.Remote(s.url + "train.gz", train_sha, (6, None)),
      "test": download.Remote(s.url + "test.gz", test_sha),
  })
  for split, expected in (("train", train[:6]), ("valid", train[6:]), ("test", test)):
    x = data.load("mnist_dynamic", split, cache_dir=tmp_path / "cache")
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, expected / 255.0, rtol=1e-6)
  assert s.requests == 2  # train.gz is downloaded once for two splits.


# TFDS, mocked (no network).


def test_tfds_data_source_with_mock_data(tiny):
  tfds = pytest.importorskip("tensorflow_datasets")
  arrays = _tiny_mnist()
  arrays_by_tfds_split = {"train": arrays["train"], "validation": arrays["valid"], "test": arrays["test"],
                          "train[50000:]": np.arange(3 * 784).reshape(3, 784) % 256}
  asked = []

  def as_data_source(builder, split, **kwargs):
    del kwargs
    asked.append((builder.name, split))
    return [{"image": row.reshape(28, 28, 1)} for row in arrays_by_tfds_split[split]]

  with tfds.testing.mock_data(as_data_source_fn=as_data_source):
    for split, x in arrays.items():
      np.testing.assert_array_equal(data.load("binarized_mnist", split, source="tfds"), x)
    np.testing.assert_allclose(data.load("mnist_dynamic", "valid", source="tfds"),
                               arrays_by_tfds_split["train[50000:]"] / 255.0)
  assert asked == [("binarized_mnist", "train"), ("binarized_mnist", "validation"),
                   ("binarized_mnist", "test"), ("mnist", "train[50000:]")]
  # TFDS's own random mock data (grey levels 0..254), through its real data_source machinery.
  with tfds.testing.mock_data(num_examples=TINY_SIZES["test"]):
    x = data.load("mnist_dynamic", "test", source="tfds")
    assert x.dtype == np.float32 and x.shape == (2, 784) and 0.5 < x.max() <= 1.0
    with pytest.raises(data.DataError, match=r"values outside \{0, 1\}"):
      data.load("binarized_mnist", "test", source="tfds")


# Missing data and bad inputs.


def test_no_source_names_the_dataset_and_the_three_ways(tmp_path):
  with pytest.raises(data.DataError) as raised:
    data.load("rcv1", "train", data_dir=tmp_path, cache_dir=tmp_path / "cache")
  message = str(raised.value)
  for part in ("'rcv1'", "rcv1.npz", "BIHM_DATA_DIR", "download", "cache_dir", "bihm_jax[tfds]",
               "no canonical download"):
    assert part in message, part
  with pytest.raises(data.DataError, match="no data_dir was given and BIHM_DATA_DIR is not set"):
    data.load("web", "test", source="local")


def _write_npz(folder: Path, name: str, **overrides) -> Path:
  arrays = {**_tiny_mnist(), **overrides}
  path = folder / f"{name}.npz"
  np.savez(path, **arrays)
  return path


def _truncate(path: Path) -> None:
  path.write_bytes(path.read_bytes()[:-200])


def _mnist_with_nan() -> np.ndarray:
  x = _tiny_mnist()["train"].astype(np.float32)
  x[2, 5] = np.nan
  return x


NPZ_CASES = {
    "wrong dimensionality": (dict(train=_binary(0, 6, 783)), "'train' has 783 columns; expected D = 784"),
    "not a matrix": (dict(train=_binary(0, 6).reshape(6, 28, 28)), r"has shape \(6, 28, 28\)"),
    "value outside": (dict(train=_binary(0, 6) * 2), r"'train' has values outside \{0, 1\} \(found 2\)"),
    "NaN": (dict(train=_mnist_with_nan()), "'train' contains NaN"),
    "wrong row count": (dict(train=_binary(0, 5)), "'train' has 5 rows, expected 6"),
    "no rows": (dict(train=np.zeros((0, 784), np.uint8)), "'train' has no rows"),
    "strings": (dict(train=np.full((6, 784), "1")), "dtype <U1"),
    "pickled objects": (dict(train=np.array([None] * 6, dtype=object)), "Python objects, which are never"),
    "missing array": (dict(), "no array 'train'"),
}


@pytest.mark.parametrize("case", sorted(NPZ_CASES))
def test_bad_npz_errors_name_file_and_problem(case, tiny, tmp_path):
  overrides, message = NPZ_CASES[case]
  if case == "missing array":
    path = tmp_path / "binarized_mnist.npz"
    np.savez(path, valid=_binary(0, 3))
  else:
    path = _write_npz(tmp_path, "binarized_mnist", **overrides)
  with pytest.raises(data.DataError, match=message) as raised:
    data.load("binarized_mnist", "train", data_dir=tmp_path)
  assert str(path) in str(raised.value)


def test_truncated_npz(tiny, tmp_path):
  path = _write_npz(tmp_path, "binarized_mnist")
  _truncate(path)
  with pytest.raises(data.DataError, match="truncated or corrupt .npz") as raised:
    data.load("binarized_mnist", "test", data_dir=tmp_path)
  assert str(path) in str(raised.value)


AMAT_CASES = {
    "truncated mid-row": (lambda b: b[:-100], "malformed or truncated .amat"),
    "truncated at a row end": (lambda b: b[:-2 * 784], "'valid' has 2 rows, expected 3"),
    "value outside": (lambda b: b"2" + b[1:], r"outside \{0, 1\} \(found 2\)"),
    "NaN": (lambda b: b"nan" + b[1:], "contains NaN"),
    "not a number": (lambda b: b"x" + b[1:], "malformed or truncated .amat"),
    "wrong dimensionality": (lambda b: b"".join(row[:-2] + b"\n" for row in b.splitlines()),
                             "783 columns; expected D = 784"),
    "empty": (lambda b: b"", "'valid' has no rows"),
}


@pytest.mark.parametrize("case", sorted(AMAT_CASES))
def test_bad_amat_errors_name_file_and_problem(case, tiny, tmp_path):
  edit, message = AMAT_CASES[case]
  path = tmp_path / "binarized_mnist_valid.amat"
  formats.write_amat(path, _tiny_mnist()["valid"])
  path.write_bytes(edit(path.read_bytes()))
  with pytest.raises(data.DataError, match=message) as raised:
    data.load("binarized_mnist", "valid", data_dir=tmp_path)
  assert str(path) in str(raised.value)


def test_bad_grey_levels_and_idx_files(tiny, tmp_path):
  path = _write_npz(tmp_path, "mnist_raw", train=np.full((6, 784), 300, np.int16))
  message = r"'train' has values that are not grey levels 0..255 \(found 300\)"
  with pytest.raises(data.DataError, match=message) as raised:
    data.load("mnist_dynamic", "train", data_dir=tmp_path)
  assert str(path) in str(raised.value)
  np.testing.assert_allclose(data.load("mnist_dynamic", "valid", data_dir=tmp_path),
                             _tiny_mnist()["valid"] / 255.0)
  idx = tmp_path / "images.gz"
  _idx_gz(idx, np.random.default_rng(0).integers(0, 256, (3, 784)))
  assert formats.read_idx_images(idx).shape == (3, 784)
  with gzip.open(idx, "rb") as f:
    raw = f.read()
  for bad, message in ((raw[:-5], "truncated IDX file"), (b"\0\0\x08\x01" + raw[4:], "not an IDX image")):
    with gzip.open(idx, "wb") as f:
      f.write(bad)
    with pytest.raises(data.DataError, match=message):
      formats.read_idx_images(idx)
  _idx_gz(idx, np.random.default_rng(0).integers(0, 256, (3, 784)))
  _truncate(idx)
  with pytest.raises(data.DataError, match="truncated or corrupt gzip"):
    formats.read_idx_images(idx)


def test_unknown_names_splits_sources_and_options():
  with pytest.raises(ValueError, match="known datasets: adult, binarized_mnist"):
    data.load("mnist_static", "train")
  with pytest.raises(ValueError, match="known datasets: .*web"):
    data.dimension("caltech101")
  with pytest.raises(ValueError, match="unknown split 'validation'"):
    data.load("adult", "validation")
  with pytest.raises(ValueError, match="unknown source 'http'"):
    data.load("adult", "train", source="http")
  with pytest.raises(ValueError, match=r"unknown options \['seed'\] for dataset 'adult'"):
    data.load("adult", "train", seed=1)
  assert data.dimension("binarized_mnist") == 784 and data.dimension("web") == 300


def test_sha256_helper_matches_hashlib(tmp_path):
  (tmp_path / "f").write_bytes(b"x" * (3 << 20))
  assert download.sha256_of(tmp_path / "f") == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
