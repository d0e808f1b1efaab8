"""Turn a digit drawn at any size into an MNIST-style image, the way MNIST's own digits were made.

LeCun et al. describe MNIST's preparation: each NIST digit was "size normalized to fit in a 20x20 pixel box
while preserving their aspect ratio" (with anti-aliasing, hence the grey levels), then "centered in a 28x28
image by computing the center of mass of the pixels, and translating the image so as to position this point
at the center of the 28x28 field". A drawing that skips this lands far from every test digit's code.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SIZE, BOX = 28, 20
CENTRE = SIZE / 2  # where the centre of mass goes: (14, 14) in pixel indices, as the usual recipe does


def to_grey(image: np.ndarray) -> np.ndarray:
    """A drawing as floats [H, W] in [0, 1], ink bright: from grey [H, W] (uint8 or floats in [0, 1]) or
    RGB(A) [H, W, 3|4] (the ink is the brightness of the colour, times its alpha where there is one)."""
    a = np.asarray(image)
    x = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 or a.max(initial=0) > 1.0 else 1.0)
    if x.ndim == 3:
        if x.shape[2] not in (3, 4):
            raise ValueError(f"a colour image must be [H, W, 3] or [H, W, 4]; got {list(x.shape)}")
        grey = x[..., :3].max(axis=2)
        if x.shape[2] == 4:
            grey = grey * x[..., 3]
        x = grey
    if x.ndim != 2:
        raise ValueError(f"an image must be [H, W] or [H, W, 3|4]; got {list(a.shape)}")
    return np.clip(x, 0.0, 1.0)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass of a grey image [H, W]; the middle when it is blank."""
    x = np.asarray(image, dtype=np.float64)
    total = x.sum()
    if total <= 0:
        return (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    rows, cols = np.indices(x.shape)
    return float((rows * x).sum() / total), float((cols * x).sum() / total)


def to_mnist(image: np.ndarray, *, threshold: float = 0.05) -> np.ndarray | None:
    """A drawing (see to_grey for the layouts; white ink on black, any size) -> uint8 [28, 28] prepared as
    MNIST was: the ink's bounding box scaled (anti-aliased) so that its longer side is 20 pixels, keeping the
    aspect ratio, then moved so that its centre of mass sits at (14, 14). None when nothing is drawn (no
    pixel above `threshold`)."""
    x = to_grey(image)
    ink = x > threshold
    if not ink.any():
        return None
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    t = torch.from_numpy(np.ascontiguousarray(crop))[None, None]
    small = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()
    small = np.clip(small / max(float(small.max()), 1e-6) * float(crop.max()), 0.0, 1.0)
    cy, cx = centre_of_mass(small)
    top, left = round(CENTRE - cy), round(CENTRE - cx)
    top, left = min(max(top, 0), SIZE - nh), min(max(left, 0), SIZE - nw)   # the whole box stays inside
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + nh, left:left + nw] = small
    return np.round(out * 255).astype(np.uint8)
