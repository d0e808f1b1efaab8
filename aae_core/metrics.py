"""Evaluation: reconstruction, classification and clustering error, and how well codes fit the prior.

Every helper runs under no_grad in eval mode and puts the model back in the mode it found it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from . import metric_schema as S
from .data import flatten_images
from .families.base import device_of
from .families.scoring import (  # noqa: F401
    chunks,
    classification_error,
    cluster_majority_labels,
    clustering_error,
    distance_to_curve,
    encode_all,
    eval_mode,
    predict_all,
    roll_distance,
)
from .fit_verdict import CLOSE_FACTOR, MATCH_FACTOR, MMD_NOISE_FLOOR, fit_reference, fit_verdict  # noqa: F401

if TYPE_CHECKING:
    from .families import AAEModel


@eval_mode
def reconstruction_error(model: AAEModel, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
    """Mean squared error per pixel and Bernoulli NLL (nats) per image of reconstructions of x.

    Families that decode from the true label (supervised) reconstruct through y; the others ignore it."""
    x = flatten_images(x)
    dev = device_of(model)
    mse = bce = 0.0
    for s in chunks(x.shape[0]):
        xb = x[s].to(dev)
        logits = model.reconstruct(xb, None if y is None else y[s].to(dev), logits=True)
        mse += float(((torch.sigmoid(logits) - xb) ** 2).sum())
        bce += float(torch.nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum"))
    n = x.shape[0]
    return {"mse": mse / (n * x.shape[1]), "bce": bce / n}


@eval_mode
def family_numbers(model: AAEModel, x: torch.Tensor, y: torch.Tensor, *, per_epoch: bool = False,
                   judge: torch.nn.Module | None = None) -> dict[str, Any]:
    """The family's own numbers (its metrics hook) on held-out images x, in eval mode without gradients:
    per_epoch, the few cheap ones of the per-epoch report (e.g. eval_error); else evaluate's, read with the
    digit judge where one is given."""
    return dict(model.metrics(x, y, per_epoch=per_epoch, judge=judge))


def _moments(z: torch.Tensor) -> dict[str, list[float]]:
    mean = z.mean(0)
    centred = z - mean
    std = centred.pow(2).mean(0).sqrt()
    skew = (centred.pow(3).mean(0) / std.clamp_min(1e-12).pow(3))
    kurt = (centred.pow(4).mean(0) / std.clamp_min(1e-12).pow(4)) - 3.0
    return {"mean": mean.tolist(), "std": std.tolist(), "skewness": skew.tolist(), "excess_kurtosis": kurt.tolist()}


def mmd_rbf(a: torch.Tensor, b: torch.Tensor, bandwidth: float | None = None) -> float:
    """Unbiased squared MMD between samples a [N, d] and b [M, d] with a Gaussian kernel.

    The bandwidth defaults to the median pairwise distance of the pooled samples."""
    a, b = a.double(), b.double()
    pooled = torch.cat([a, b])
    d = torch.cdist(pooled, pooled).pow(2)
    if bandwidth is None:
        bandwidth = float(d[d > 0].median().sqrt()) if (d > 0).any() else 1.0
    k = torch.exp(-d / (2 * bandwidth ** 2))
    n, m = a.shape[0], b.shape[0]
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    term_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    term_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(term_a + term_b - 2 * kab.mean())


def prior_fit(z: torch.Tensor, prior_samples: torch.Tensor, *, mmd_samples: int = 2000,
              generator: torch.Generator | None = None) -> dict[str, Any]:
    """How well codes z [N, d] match the prior: per-dimension moments of both, and an MMD statistic.

    mmd is computed on `mmd_samples` rows of each; mmd_same_prior is the MMD between two prior
    halves of that size, the value a perfect fit would reach."""
    z, p = z.detach().cpu().double(), prior_samples.detach().cpu().double()
    g = generator or torch.Generator().manual_seed(0)
    k = min(mmd_samples, z.shape[0], p.shape[0] // 2)
    zi = torch.randperm(z.shape[0], generator=g)[:k]
    pi = torch.randperm(p.shape[0], generator=g)[: 2 * k]
    return {"encoded": _moments(z), "prior": _moments(p),
            "mmd": mmd_rbf(z[zi], p[pi[:k]]), "mmd_same_prior": mmd_rbf(p[pi[:k]], p[pi[k:]])}


def codes_fit(model: AAEModel, z: torch.Tensor, *, seed: int = 0) -> dict[str, Any]:
    """prior_fit of codes z [N, d] against 2N seeded samples of the model's prior (metrics.json's prior_fit)."""
    samples = model.prior.sample(2 * z.shape[0], generator=torch.Generator().manual_seed(seed))
    return prior_fit(z, samples, generator=torch.Generator().manual_seed(seed))


def evaluate_model(model: AAEModel, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                   judge: torch.nn.Module | None = None) -> dict[str, Any]:
    """All metrics that apply to the model on test images x [N, 784] (floats) and labels y [N]; with the digit
    judge, also what it reads in the family's own images (the family's metrics hook decides)."""
    out: dict[str, Any] = {S.N_TEST.key: int(x.shape[0])}
    out[S.RECONSTRUCTION.key] = reconstruction_error(model, x, y)
    z = encode_all(model, x).cpu()
    out[S.PRIOR_FIT.key] = codes_fit(model, z, seed=seed)
    out.update(family_numbers(model, x, y, judge=judge))
    return out


# --- what the teaching pages show (the app's Prior fit and Classes pages) ---------------------------
# The verdict on a prior fit (MMD_NOISE_FLOOR, fit_reference, fit_verdict) lives in fit_verdict.py: plain
# Python, so that the app's model table reads it without importing torch.


def dimension_histograms(z: torch.Tensor, prior_samples: torch.Tensor, bins: int = 40,
                         quantile: float = 0.001) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-dimension densities of codes z [N, d] and prior samples [M, d] on shared bins.

    Returns edges [d, bins + 1] (spanning both samples' [quantile, 1 - quantile] range, so a few outliers do
    not squash the picture), code density [d, bins] and prior density [d, bins], each integrating to the share
    of its points inside the edges (a density, comparable with the prior's analytic one)."""
    z, p = torch.as_tensor(z).double().cpu(), torch.as_tensor(prior_samples).double().cpu()
    if z.dim() != 2 or p.dim() != 2 or z.shape[1] != p.shape[1]:
        raise ValueError(f"z and prior_samples must be [N, d] and [M, d]; got {list(z.shape)}, {list(p.shape)}")
    both = torch.cat([z, p])
    lo, hi = torch.quantile(both, quantile, dim=0), torch.quantile(both, 1 - quantile, dim=0)
    hi = torch.maximum(hi, lo + 1e-6)
    steps = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64)
    edges = lo[:, None] + (hi - lo)[:, None] * steps[None]

    def density(x: torch.Tensor) -> torch.Tensor:
        out = torch.stack([torch.histogram(x[:, j].contiguous(), bins=edges[j]).hist for j in range(x.shape[1])])
        width = (edges[:, 1:] - edges[:, :-1])
        return out / (x.shape[0] * width)

    return edges, density(z), density(p)


def gaussian_density(x: torch.Tensor, std: float = 1.0, mean: float = 0.0) -> torch.Tensor:
    """N(mean, std²) density at x (any shape)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * (2 * torch.pi) ** 0.5)


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, n_labels: int, n_classes: int) -> torch.Tensor:
    """Counts [n_labels, n_classes]: row = true label, column = predicted class (or cluster)."""
    labels, predicted = torch.as_tensor(labels).long().cpu(), torch.as_tensor(predicted).long().cpu()
    if labels.shape != predicted.shape:
        raise ValueError(f"labels and predictions must have one shape; got {list(labels.shape)}, "
                         f"{list(predicted.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_labels or predicted.min() < 0
                           or predicted.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_labels - 1} and predictions in 0..{n_classes - 1}")
    flat = labels * n_classes + predicted
    return torch.bincount(flat, minlength=n_labels * n_classes).reshape(n_labels, n_classes)


def cluster_report(confusion: torch.Tensor) -> list[dict[str, Any]]:
    """Per cluster (column of a confusion matrix [labels, clusters]): its size, its majority label (-1 when
    empty) and its purity, the share of its images that carry that label (paper §6: the cluster's name)."""
    out = []
    for k in range(confusion.shape[1]):
        col = confusion[:, k]
        size = int(col.sum())
        out.append({"cluster": k, "size": size, "label": int(col.argmax()) if size else -1,
                    "purity": float(col.max()) / size if size else 0.0})
    return out
