"""The numbers the teaching pages (Compare, Prior fit, Classes, The paper) show about a model: its prior fit
(metrics.json's, else measured here on a subset), its test-set predictions and a latent map to draw on.
Each is computed once per model (keyed by the weights' fingerprint) and shared by every user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

import aae_core
from aae_core import metric_schema as S
from explorer import maps
from explorer.models import test_set  # noqa: F401 - also used by pages

if TYPE_CHECKING:
    from aae_core.projection import LatentMap
    from explorer.picker import Current, Pick

FIT_SUBSET = 2000   # test images a prior fit is measured on when the model has no metrics.json


@dataclass(frozen=True)
class PriorFit:
    """metrics.json's prior_fit layout (aae_core.metrics.prior_fit) and where it came from."""

    fit: dict[str, Any]
    source: str


def metrics_of(ref: Pick) -> dict[str, Any]:
    """The checkpoint's (or upload's) metrics.json (written by `python -m aae_core.evaluate`), or {}."""
    return ref.metrics


@st.cache_data(max_entries=32, show_spinner="Measuring how well the codes fit the prior...")
def _measured_fit(fingerprint: str, _cur: Current, n: int) -> dict[str, Any]:
    metrics = aae_core.metrics      # torch: measured here
    test = test_set(_cur.config.dataset)
    return metrics.codes_fit(_cur.model, metrics.encode_all(_cur.model, test.to_float()[:n]).cpu())


def prior_fit(cur: Current) -> PriorFit | None:
    """The model's prior fit: from metrics.json (the whole test set) when there, else measured now on the first
    FIT_SUBSET test images (cached). None when the test set cannot be had (the page has said so)."""
    m = metrics_of(cur)
    recorded = S.PRIOR_FIT.of(m)
    if recorded:
        return PriorFit(recorded, f"metrics.json ({S.N_TEST.show(m) or 0} test images)")
    test = test_set(cur.config.dataset)
    if test is None:
        return None
    n = min(FIT_SUBSET, len(test))
    return PriorFit(_measured_fit(cur.fingerprint, cur, n), f"measured here on {n:,} test images (no metrics.json)")


def fit_summary(fit: dict[str, Any]) -> dict[str, float]:
    """One number per statistic over all dimensions: the largest gap between codes and prior."""
    enc, pri = fit["encoded"], fit["prior"]

    def gap(key: str) -> float:
        return float(np.max(np.abs(np.asarray(enc[key]) - np.asarray(pri[key]))))

    return {"mmd": float(fit["mmd"]), "mmd_same_prior": float(fit["mmd_same_prior"]), "mean": gap("mean"),
            "std": gap("std"), "skewness": gap("skewness"), "excess_kurtosis": gap("excess_kurtosis")}


def map_of(cur: Current) -> LatentMap | None:
    """A map every code can be placed on: the latent space itself for 2-D latents, else a cached UMAP when
    there is one (codes cannot be placed on it), else PCA (computed at once)."""
    if cur.latent_dim == 2:
        return maps.latent_map(cur, "latent")
    return maps.cached_map(cur, "umap") or maps.latent_map(cur, "pca")


def placeable_map(cur: Current) -> LatentMap | None:
    """A map new codes can be placed on (LatentMap.place): the latent space (2-D) or PCA."""
    return maps.latent_map(cur, "latent" if cur.latent_dim == 2 else "pca")


@st.cache_data(max_entries=16, show_spinner="Classifying the test set...")
def _probabilities(fingerprint: str, _cur: Current) -> np.ndarray:
    test = test_set(_cur.config.dataset)
    return aae_core.metrics.predict_all(_cur.model, test.to_float()).cpu().numpy().astype(np.float32)


def test_probabilities(cur: Current) -> np.ndarray | None:
    """The class (or cluster) probabilities [N, K] of every test image, for models with a classifier."""
    if not cur.family.classes.predicted or test_set(cur.config.dataset) is None:
        return None
    return _probabilities(cur.fingerprint, cur)


def class_name(cur: Current, k: int) -> str:
    """A class or cluster as the pages name it: 'class 3'; a cluster with the digit most of its test images
    carry (paper §6), 'cluster 5 (mostly 3s)', where the test set can be had."""
    noun = cur.family.classes.noun or "class"
    probs = None if cur.family.classes.means_label else test_probabilities(cur)
    if probs is None:
        return f"{noun} {k}"
    labels = test_set(cur.config.dataset).labels.cpu().numpy()
    members = labels[probs.argmax(1) == k]
    if members.size == 0:
        return f"{noun} {k} (no test image)"
    return f"{noun} {k} (mostly {int(np.bincount(members).argmax())}s)"


def cluster_grid(images: np.ndarray, probabilities: np.ndarray, order: list[int], per_row: int) -> np.ndarray:
    """For each class or cluster in `order`, its `per_row` most confidently assigned test images (uint8
    [N, 28, 28], probabilities [N, K]), padded with black: uint8 [len(order), per_row, 28, 28] (paper Fig. 9)."""
    predicted = probabilities.argmax(1)
    grid = np.zeros((len(order), per_row, 28, 28), np.uint8)
    for row, k in enumerate(order):
        members = np.flatnonzero(predicted == k)
        best = members[np.argsort(-probabilities[members, k], kind="stable")][:per_row]
        grid[row, :best.size] = images[best]
    return grid
