"""Pictures of digits with numpy only (no torch): crisp upscaling and tiling, for the pages and the exports,
which a fresh server imports before it needs torch."""

from __future__ import annotations

import numpy as np


def upscale(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 images [..., H, W] by an integer factor (crisp pixels)."""
    return np.repeat(np.repeat(images, factor, axis=-2), factor, axis=-1)


def tile(images: np.ndarray, pad: int = 2, fill: int = 255) -> np.ndarray:
    """A grid of images [R, C, H, W] -> one uint8 image [R*(H+pad)-pad, C*(W+pad)-pad]."""
    r, c, h, w = images.shape
    out = np.full((r * (h + pad) - pad, c * (w + pad) - pad), fill, dtype=np.uint8)
    for i in range(r):
        for j in range(c):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = images[i, j]
    return out
