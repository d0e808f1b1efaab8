"""aae_core.families.scoring: the scores the families compute of themselves, on inputs whose answers are known."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_images
from model_cases import MODEL_CASES

from aae_core.families import build_model, scoring
from aae_core.priors import SwissRollPrior


def test_cluster_majority_labels():
    clusters = torch.tensor([0, 0, 0, 1, 1, 3, 3, 3, 3])
    labels = torch.tensor([7, 7, 2, 4, 4, 1, 1, 1, 9])
    assert scoring.cluster_majority_labels(clusters, labels, 4).tolist() == [7, 4, -1, 1]


def one_hot_probs(clusters: list[int], k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(clusters), k).float()


def test_clustering_error_counts_images_outside_their_clusters_majority(monkeypatch):
    model = build_model(MODEL_CASES["clustering"])   # 16 clusters
    labels = torch.tensor([3, 3, 3, 5, 5, 5, 5, 8, 8, 2])
    # cluster 0: 3,3,3 (pure); cluster 1: 5,5,5,8 (one wrong); cluster 9: 5,8 -> majority 5, one wrong;
    # cluster 15: 2 (pure).
    clusters = [0, 0, 0, 1, 1, 1, 9, 1, 9, 15]
    monkeypatch.setattr(scoring, "predict_all", lambda model, x: one_hot_probs(clusters, 16))
    assert scoring.clustering_error(model, torch.zeros(10, 784), labels) == pytest.approx(0.2)
    # Perfect clusters, even many per class, give zero error.
    monkeypatch.setattr(scoring, "predict_all", lambda model, x: one_hot_probs([0, 0, 0, 1, 2, 1, 2, 4, 4, 7], 16))
    assert scoring.clustering_error(model, torch.zeros(10, 784), labels) == 0.0
    # One cluster for everything: the majority class is right, the rest wrong.
    monkeypatch.setattr(scoring, "predict_all", lambda model, x: one_hot_probs([6] * 10, 16))
    assert scoring.clustering_error(model, torch.zeros(10, 784), labels) == pytest.approx(0.6)


def test_classification_error_compares_argmax_with_labels(monkeypatch):
    model = build_model(MODEL_CASES["semi_supervised"])
    monkeypatch.setattr(scoring, "predict_all", lambda model, x: one_hot_probs([1, 2, 3, 4], 10))
    assert scoring.classification_error(model, torch.zeros(4, 784), torch.tensor([1, 2, 0, 0])) == 0.5


def test_predict_all_gives_probabilities_in_batches():
    model = build_model(MODEL_CASES["semi_supervised"], seed=0)
    x = synthetic_images(50).to_float()
    probs = scoring.predict_all(model, x, batch_size=7)
    assert probs.shape == (50, 10)
    assert torch.allclose(probs.sum(1), torch.ones(50))
    assert torch.allclose(probs, torch.softmax(model.classify(x), 1).detach(), atol=1e-6)
    z = scoring.encode_all(model, x, batch_size=7)
    assert torch.allclose(z, model.encode(x).detach(), atol=1e-6) and not z.requires_grad


def test_distance_to_curve_measures_to_the_nearest_segment_not_the_nearest_vertex():
    curve = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    points = torch.tensor([[5.0, 3.0], [12.0, 5.0], [-4.0, 3.0], [10.0, 0.0]])
    d = scoring.distance_to_curve(points, curve, chunk=3)   # two chunks
    assert torch.allclose(d, torch.tensor([3.0, 2.0, 5.0, 0.0]))


def test_roll_distance_of_the_prior_is_its_width_and_codes_off_the_roll_are_far():
    prior = SwissRollPrior(radius=12.0)
    g = torch.Generator().manual_seed(0)
    samples, more = prior.sample(4000, generator=g), prior.sample(4000, generator=g)
    curve = prior._point(torch.linspace(0, 1, 4001))
    # the samples are the curve plus N(0, 0.1²) noise: the distance's median is 0.6745 σ (half-normal)
    same = scoring.roll_distance(more, samples, curve)
    assert same["prior_median"] == pytest.approx(0.0674, rel=0.08)
    assert same["codes_median"] == pytest.approx(same["prior_median"], rel=0.08)
    assert same["ratio"] == pytest.approx(same["codes_median"] / same["prior_median"])
    spread = scoring.roll_distance(more + torch.randn(4000, 2, generator=g), samples, curve)
    assert spread["ratio"] > 3
