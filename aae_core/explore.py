"""What the explorer asks of a trained model: points in its latent space and the images they decode to.

Everything here takes and returns numpy arrays on the CPU (images as uint8 [N, 28, 28]), runs under
no_grad, and leaves the model untouched, so one loaded model can serve every user at once.
A class code y is either int labels [N] or probabilities / one-hot [N, K]; models whose decoder has
no class input ignore it (paper §4-§6: supervised, semi-supervised and clustering models take one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import ImageSet
from .families import AAEModel, device_of
from .images import tile, upscale  # noqa: F401 - numpy only, kept where callers knew them


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images [N, 1, 28, 28] or [N, 784] floats in [0, 1] -> uint8 [N, 28, 28]."""
    x = images.detach().float().reshape(images.shape[0], 28, 28).clamp(0, 1)
    return (x * 255).round().to(torch.uint8).cpu().numpy()


def _given_class_code(model: AAEModel, y: np.ndarray | torch.Tensor | list | None, n: int) -> torch.Tensor | None:
    if not model.classes:
        return None
    if y is None:
        k = model.config.n_classes
        raise ValueError(f"a {model.kind!r} model decodes from a style and a {model.classes.noun}: pass y "
                         f"(labels [N] in 0..{k - 1} or probabilities [N, {k}])")
    y = torch.as_tensor(np.asarray(y), device=device_of(model))
    if y.dim() == 1 and y.is_floating_point() and y.shape[0] == model.config.n_classes and n == 1:
        y = y[None]  # one probability vector for one code
    if y.dim() == 1:
        y = y.long()
    elif y.dim() == 2:
        y = y.float()
    return y


@torch.no_grad()
def decode(model: AAEModel, z: np.ndarray | torch.Tensor, y=None) -> np.ndarray:
    """Codes z [N, d] (and class codes y, for models that take one) -> images uint8 [N, 28, 28]."""
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32), device=device_of(model)).reshape(-1, model.config.latent_dim)
    return to_uint8(model.decode(zt, _given_class_code(model, y, zt.shape[0])))


def _float_images(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images))
    x = x.reshape(-1, 784)
    x = x.float() / 255.0 if not x.is_floating_point() else x.float()
    return x.to(device)


@torch.no_grad()
def encode(model: AAEModel, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 images [N, 28, 28] (or floats in [0, 1]) -> codes z [N, d] float32."""
    return model.encode(_float_images(images, device_of(model))).float().cpu().numpy()


@torch.no_grad()
def class_probabilities(model: AAEModel, images: np.ndarray | torch.Tensor) -> np.ndarray | None:
    """The model's class (or cluster) probabilities [N, K], or None for models without a classifier."""
    if not model.classes.predicted:
        return None
    return torch.softmax(model.classify(_float_images(images, device_of(model))), 1).float().cpu().numpy()


@torch.no_grad()
def reconstruct(model: AAEModel, images: np.ndarray | torch.Tensor, labels=None) -> np.ndarray:
    """uint8 images [N, 28, 28] -> their reconstructions uint8 [N, 28, 28].

    Families that decode from the true label (supervised) rebuild from the style code and `labels`;
    the others through their own class code, if any."""
    dev = device_of(model)
    x = _float_images(images, dev)
    y = None if labels is None else torch.as_tensor(np.asarray(labels), device=dev).long()
    return to_uint8(model.reconstruct(x, y))


def class_code(model: AAEModel, x: torch.Tensor, labels=None) -> torch.Tensor | None:
    """The class code y [N, K] that decodes images x [N, 784] (floats on the model's device) as the model sees
    them: its own probabilities where it predicts y, else the true labels' one-hot; None for families whose
    decoder reads z alone."""
    if not model.classes:
        return None
    if model.classes.predicted:
        return torch.softmax(model.classify(x), dim=1)
    if labels is None:
        raise ValueError(f"a {model.kind!r} model decodes through the true label: pass the images' labels")
    labels = torch.as_tensor(labels, device=x.device).long().reshape(-1)
    return torch.nn.functional.one_hot(labels, model.config.n_classes).float()


@torch.no_grad()
def reconstruction_class_codes(model: AAEModel, test: ImageSet, batch: int = 1000) -> np.ndarray:
    """The class code each test image decodes with in a reconstruction (the true label's one-hot, or the
    model's own probabilities) [N, K] float32, for models whose decoder takes one."""
    out, dev = [], device_of(model)
    for i in range(0, len(test), batch):
        x = test.images[i:i + batch].to(dev).float().div(255).reshape(-1, 784)
        out.append(class_code(model, x, test.labels[i:i + batch].to(dev)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def prior_samples(model: AAEModel, n: int, seed: int = 0) -> np.ndarray:
    """n codes drawn from the model's prior with a fixed seed, [n, d] float32."""
    g = torch.Generator().manual_seed(int(seed))
    return model.prior.sample(n, generator=g).float().cpu().numpy()


def class_sweep(model: AAEModel, styles: np.ndarray) -> np.ndarray:
    """Each style z [S, d] decoded with every class code 0..K-1 -> uint8 [S, K, 28, 28] (paper Fig. 6, 8)."""
    if not model.classes:
        raise ValueError(f"a {model.kind!r} model has no class code to sweep")
    styles = np.asarray(styles, dtype=np.float32).reshape(-1, model.config.latent_dim)
    k = model.config.n_classes
    z = np.repeat(styles, k, axis=0)                              # [S*K, d], style-major
    y = np.tile(np.arange(k), styles.shape[0])
    return decode(model, z, y).reshape(styles.shape[0], k, 28, 28)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """steps points on the straight line from a to b, both ends included: [steps, ...]."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2; got {steps}")
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape(-1, *([1] * a.ndim))
    return (1 - t) * a + t * b


def slider_ranges(model: AAEModel, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension slider bounds (lo [d], hi [d]): the range prior samples cover, widened by a quarter
    and rounded, so sliders reach just past where the decoder was trained."""
    s = prior_samples(model, n, seed)
    lo, hi = np.quantile(s, 0.001, axis=0), np.quantile(s, 0.999, axis=0)
    pad = 0.25 * np.maximum(hi - lo, 1e-3)
    lo, hi = np.floor((lo - pad) * 2) / 2, np.ceil((hi + pad) * 2) / 2
    return lo.astype(np.float32), hi.astype(np.float32)


@dataclass(frozen=True)
class LatentPoint:
    """A point chosen somewhere in the app: its code z [d], its class code y [K] (or None), the test image
    it came from (uint8 [28, 28], or None), that image's true label, and a short description."""

    z: np.ndarray
    y: np.ndarray | None = None
    image: np.ndarray | None = None
    label: int | None = None
    description: str = ""


def point_from_test(model: AAEModel, test: ImageSet, index: int) -> LatentPoint:
    """The test image at `index` as a point: its code, and its class code as the model reads the image
    (the true label's one-hot where the family decodes from labels, else the model's own prediction)."""
    if not 0 <= index < len(test):
        raise ValueError(f"index must be in 0..{len(test) - 1}; got {index}")
    image = test.images[index].cpu().numpy()
    label = int(test.labels[index])
    z = encode(model, image[None])[0]
    with torch.no_grad():
        code = class_code(model, _float_images(image[None], device_of(model)), torch.tensor([label]))
    y = None if code is None else code[0].float().cpu().numpy()
    return LatentPoint(z=z, y=y, image=image, label=label, description=f"test image #{index} (label {label})")


def point_from_prior(model: AAEModel, seed: int) -> LatentPoint:
    """One prior sample drawn with `seed` (no class code: the caller picks one if the model needs it)."""
    return LatentPoint(z=prior_samples(model, 1, seed)[0], description=f"prior sample (seed {seed})")


def one_hot(k: int, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[k]


def point_from_image(model: AAEModel, image: np.ndarray, description: str = "an image") -> LatentPoint:
    """Any uint8 image [28, 28] (a drawing, after aae_core.preprocess.to_mnist) as a point: its code, and its
    class code as the model reads it where the model reads one itself (None for families that decode
    through the true label, which a drawing does not have)."""
    image = np.asarray(image, dtype=np.uint8).reshape(28, 28)
    z = encode(model, image[None])[0]
    y = None
    if model.classes.predicted:
        with torch.no_grad():
            code = class_code(model, _float_images(image[None], device_of(model)))
        y = None if code is None else code[0].float().cpu().numpy()
    return LatentPoint(z=z, y=y, image=image, description=description)
