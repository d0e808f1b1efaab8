"""The scores the families compute of themselves (their `metrics` hook): classification and clustering error,
and how far codes lie from a curve. Evaluation (aae_core.metrics, evaluate) builds on these; the families
import nothing from evaluation.

Every helper that runs a model runs it under no_grad in eval mode and puts it back in the mode it found it in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .base import AAEModel


def eval_mode(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(model: AAEModel, *args, **kwargs):
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return fn(model, *args, **kwargs)
        finally:
            model.train(was_training)
    return wrapper


def chunks(n: int, size: int = 2000):
    for i in range(0, n, size):
        yield slice(i, min(i + size, n))


@eval_mode
def encode_all(model: AAEModel, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Codes of every image in x [N, 784] (any device) -> [N, latent_dim] on x's device."""
    dev = next(model.parameters()).device
    return torch.cat([model.encode(x[s].to(dev)).to(x.device) for s in chunks(x.shape[0], batch_size)])


@eval_mode
def predict_all(model: AAEModel, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Class / cluster probabilities [N, n_classes] for models with a classifier."""
    dev = next(model.parameters()).device
    return torch.cat([torch.softmax(model.classify(x[s].to(dev)), 1).to(x.device)
                      for s in chunks(x.shape[0], batch_size)])


def classification_error(model: AAEModel, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of x whose argmax class differs from y (paper Table 2)."""
    pred = predict_all(model, x).argmax(1).cpu()
    return float((pred != y.cpu()).float().mean())


def cluster_majority_labels(clusters: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """Each cluster's majority label [n_clusters] (-1 for an empty cluster)."""
    n_labels = int(labels.max()) + 1
    counts = torch.zeros(n_clusters, n_labels, dtype=torch.long)
    counts.index_put_((clusters.cpu().long(), labels.cpu().long()), torch.ones_like(labels.cpu().long()),
                      accumulate=True)
    majority = counts.argmax(1)
    majority[counts.sum(1) == 0] = -1
    return majority


def clustering_error(model: AAEModel, x: torch.Tensor, y: torch.Tensor) -> float:
    """Paper §6: every cluster takes the label most of its images carry; the error is the fraction
    of images whose cluster's label differs from theirs."""
    clusters = predict_all(model, x).argmax(1).cpu()
    majority = cluster_majority_labels(clusters, y, model.config.n_classes)
    return float((majority[clusters] != y.cpu()).float().mean())


def distance_to_curve(points: torch.Tensor, curve: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """Distance of each point [N, d] to the polyline through curve [G, d] (its nearest segment) -> [N]."""
    points, curve = points.detach().cpu().double(), curve.detach().cpu().double()
    a, seg = curve[:-1], curve[1:] - curve[:-1]                     # segments a + t * seg, t in [0, 1]
    seg_len2 = seg.pow(2).sum(1).clamp_min(1e-12)
    out = []
    for s in chunks(points.shape[0], chunk):
        p = points[s, None, :]                                       # [n, 1, d]
        t = ((p - a) * seg).sum(2).div(seg_len2).clamp(0.0, 1.0)     # [n, G-1]
        d = (p - a - t[..., None] * seg).pow(2).sum(2)
        out.append(d.min(1).values.sqrt())
    return torch.cat(out).float()


def roll_distance(z: torch.Tensor, prior_samples: torch.Tensor, curve: torch.Tensor) -> dict[str, float]:
    """How closely codes z [N, 2] follow a swiss roll (paper Fig. 4): the median distance of the codes to
    the roll's curve [G, 2], next to that of samples of the prior itself (its own width; a perfect fit
    reaches it), and their ratio."""
    codes = float(distance_to_curve(z, curve).median())
    prior = float(distance_to_curve(prior_samples, curve).median())
    return {"codes_median": codes, "prior_median": prior, "ratio": codes / max(prior, 1e-12)}
