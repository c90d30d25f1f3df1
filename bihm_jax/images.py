"""Image grids as PNG files (no dependencies beyond NumPy), and the half-image masks of inpainting.

Data vectors of image datasets are images flattened row-major; `IMAGE_SHAPES` gives their
(height, width).
"""

import struct
import zlib

import numpy as np

IMAGE_SHAPES: dict[str, tuple[int, int]] = {
    "binarized_mnist": (28, 28),
    "mnist_dynamic": (28, 28),
    "ocr_letters": (16, 8),
}

HALVES = ("top", "bottom", "left", "right")


def image_shape(dataset: str) -> tuple[int, int] | None:
  """(height, width) of the dataset's data vectors, or None if they are not images."""
  return IMAGE_SHAPES.get(dataset)


def half_mask(shape: tuple[int, int], half: str) -> np.ndarray:
  """(H * W,) bool, True on the named half ("top", "bottom", "left", "right") of an H x W image."""
  if half not in HALVES:
    raise ValueError(f"unknown half {half!r}; choose from {HALVES}")
  height, width = shape
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  mask = {"top": rows < height // 2, "bottom": rows >= height // 2,
          "left": cols < width // 2, "right": cols >= width // 2}[half]
  return mask.reshape(-1)


def tile(images: np.ndarray, rows: int, cols: int, *, pad: int = 1, background: float = 0.5) -> np.ndarray:
  """Lays out images (N, H, W) in [0, 1] row by row on a (rows, cols) grid.

  Cells beyond N stay empty; images are separated by `pad` pixels of `background`.

  Returns:
    (rows * (H + pad) + pad, cols * (W + pad) + pad) float array.
  """
  images = np.asarray(images, np.float64)
  count, height, width = images.shape
  if count > rows * cols:
    raise ValueError(f"{count} images do not fit a {rows} x {cols} grid")
  grid = np.full((rows * (height + pad) + pad, cols * (width + pad) + pad), background)
  for i, image in enumerate(images):
    top, left = pad + (i // cols) * (height + pad), pad + (i % cols) * (width + pad)
    grid[top:top + height, left:left + width] = image
  return grid


def write_png(path: str, pixels: np.ndarray) -> None:
  """Writes a (H, W) grey image with values in [0, 1] as an 8-bit greyscale PNG."""
  pixels = np.round(255 * np.clip(np.asarray(pixels, np.float64), 0.0, 1.0)).astype(np.uint8)
  height, width = pixels.shape
  raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 on every scanline

  def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
        ">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

  header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def save_grid(path: str, images: np.ndarray, rows: int, cols: int, *, scale: int = 2, pad: int = 1,
              background: float = 0.5) -> None:
  """Writes images (N, H, W) in [0, 1] as one PNG grid, each pixel drawn `scale` x `scale`."""
  grid = tile(images, rows, cols, pad=pad, background=background)
  write_png(path, np.kron(grid, np.ones((scale, scale))))
