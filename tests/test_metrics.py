"""Metrics on hand-made inputs whose answers are known."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_images
from model_cases import MODEL_CASES

from aae_core import metrics as M
from aae_core.families import build_model
from aae_core.priors import SwissRollPrior


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_cluster_majority_labels():
    clusters = torch.tensor([0, 0, 0, 1, 1, 3, 3, 3, 3])
    labels = torch.tensor([7, 7, 2, 4, 4, 1, 1, 1, 9])
    assert M.cluster_majority_labels(clusters, labels, 4).tolist() == [7, 4, -1, 1]


def one_hot_probs(clusters: list[int], k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(clusters), k).float()


def test_clustering_error_counts_images_outside_their_clusters_majority(monkeypatch):
    model = build_model(MODEL_CASES["clustering"])   # 16 clusters
    labels = torch.tensor([3, 3, 3, 5, 5, 5, 5, 8, 8, 2])
    # cluster 0: 3,3,3 (pure); cluster 1: 5,5,5,8 (one wrong); cluster 9: 5,8 -> majority 5, one wrong;
    # cluster 15: 2 (pure).
    clusters = [0, 0, 0, 1, 1, 1, 9, 1, 9, 15]
    monkeypatch.setattr(M, "predict_all", lambda model, x: one_hot_probs(clusters, 16))
    assert M.clustering_error(model, torch.zeros(10, 784), labels) == pytest.approx(0.2)
    # Perfect clusters, even many per class, give zero error.
    monkeypatch.setattr(M, "predict_all", lambda model, x: one_hot_probs([0, 0, 0, 1, 2, 1, 2, 4, 4, 7], 16))
    assert M.clustering_error(model, torch.zeros(10, 784), labels) == 0.0
    # One cluster for everything: the majority class is right, the rest wrong.
    monkeypatch.setattr(M, "predict_all", lambda model, x: one_hot_probs([6] * 10, 16))
    assert M.clustering_error(model, torch.zeros(10, 784), labels) == pytest.approx(0.6)


def test_classification_error_compares_argmax_with_labels(monkeypatch):
    model = build_model(MODEL_CASES["semi_supervised"])
    monkeypatch.setattr(M, "predict_all", lambda model, x: one_hot_probs([1, 2, 3, 4], 10))
    assert M.classification_error(model, torch.zeros(4, 784), torch.tensor([1, 2, 0, 0])) == 0.5


def test_predict_all_gives_probabilities_in_batches():
    model = build_model(MODEL_CASES["semi_supervised"], seed=0)
    x = synthetic_images(50).to_float()
    probs = M.predict_all(model, x, batch_size=7)
    assert probs.shape == (50, 10)
    assert torch.allclose(probs.sum(1), torch.ones(50))
    assert torch.allclose(probs, torch.softmax(model.classify(x), 1).detach(), atol=1e-6)
    z = M.encode_all(model, x, batch_size=7)
    assert torch.allclose(z, model.encode(x).detach(), atol=1e-6) and not z.requires_grad


def test_mmd_is_near_zero_for_one_distribution_and_large_for_shifted_samples():
    a = torch.randn(1000, 2, generator=gen(1))
    b = torch.randn(1000, 2, generator=gen(2))
    same = M.mmd_rbf(a, b)
    shifted = M.mmd_rbf(a, b + torch.tensor([1.0, 0.0]))
    far = M.mmd_rbf(a, b + torch.tensor([4.0, 0.0]))
    assert abs(same) < 0.005
    assert shifted > 0.05 and far > shifted
    assert M.mmd_rbf(a, 3 * b) > 0.05        # same mean, different spread
    assert M.mmd_rbf(a, b, bandwidth=1.0) == pytest.approx(same, abs=0.005)


def test_prior_fit_reports_moments_and_mmd():
    g = gen(3)
    prior = torch.randn(4000, 3, generator=g)
    good = torch.randn(1000, 3, generator=g)
    bad = 2.0 * torch.rand(1000, 3, generator=g) + 1.0   # uniform on [1, 3]
    fit = M.prior_fit(good, prior, mmd_samples=500)
    assert set(fit) == {"encoded", "prior", "mmd", "mmd_same_prior"}
    assert set(fit["encoded"]) == {"mean", "std", "skewness", "excess_kurtosis"}
    assert fit["encoded"]["mean"] == pytest.approx([0, 0, 0], abs=0.1)
    assert fit["encoded"]["std"] == pytest.approx([1, 1, 1], abs=0.1)
    assert fit["prior"]["excess_kurtosis"] == pytest.approx([0, 0, 0], abs=0.3)
    poor = M.prior_fit(bad, prior, mmd_samples=500)
    assert poor["encoded"]["mean"] == pytest.approx([2, 2, 2], abs=0.1)
    assert poor["encoded"]["std"] == pytest.approx([(1 / 3) ** 0.5] * 3, abs=0.05)
    assert poor["encoded"]["excess_kurtosis"] == pytest.approx([-1.2] * 3, abs=0.2)   # a uniform's
    assert poor["mmd"] > 10 * max(fit["mmd"], fit["mmd_same_prior"], 0.002)


def test_reconstruction_error_of_a_perfect_and_a_blank_reconstruction(monkeypatch):
    model = build_model(MODEL_CASES["unsupervised_gaussian"])
    x = synthetic_images(10).to_float()
    monkeypatch.setattr(model, "reconstruct_logits", lambda xb, y=None: torch.full_like(xb, -1e4))
    blank = M.reconstruction_error(model, x)
    assert blank["mse"] == pytest.approx(float((x ** 2).mean()), rel=1e-5)
    monkeypatch.setattr(model, "reconstruct_logits", lambda xb, y=None: torch.logit(xb, eps=1e-7))
    near_perfect = M.reconstruction_error(model, x)
    assert near_perfect["mse"] < 1e-10 and near_perfect["bce"] < blank["bce"]


@pytest.mark.parametrize("case", ["unsupervised_gaussian", "supervised", "semi_supervised", "clustering",
                                  "label_conditioned_mixture", "unsupervised_swiss_roll", "vae"])
@pytest.mark.parametrize("training", [True, False])
def test_evaluate_model_reports_what_applies_and_restores_the_mode(case, training):
    model = build_model(MODEL_CASES[case], seed=0).train(training)
    test = synthetic_images(60, seed=5)
    out = M.evaluate_model(model, test.to_float(), test.labels)
    assert model.training is training
    assert out["n_test"] == 60
    assert 0 < out["reconstruction"]["mse"] < 1 and out["reconstruction"]["bce"] > 0
    assert len(out["prior_fit"]["encoded"]["mean"]) == model.config.latent_dim
    kind, prior = model.config.kind, model.config.prior
    assert ("classification_error" in out) == (kind == "semi_supervised")
    assert ("clustering_error" in out) == (kind == "clustering")
    assert ("own_component_fraction" in out) == model.config.label_conditioned
    assert ("component_purity_error" in out) == (prior != "gaussian" and not model.config.label_conditioned)
    for key in ("classification_error", "clustering_error", "own_component_fraction", "component_purity_error"):
        if key in out:
            assert 0.0 <= out[key] <= 1.0
    if kind == "semi_supervised":   # an untrained classifier is near chance
        assert out["classification_error"] > 0.5


def test_distance_to_curve_measures_to_the_nearest_segment_not_the_nearest_vertex():
    curve = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    points = torch.tensor([[5.0, 3.0], [12.0, 5.0], [-4.0, 3.0], [10.0, 0.0]])
    d = M.distance_to_curve(points, curve, chunk=3)   # two chunks
    assert torch.allclose(d, torch.tensor([3.0, 2.0, 5.0, 0.0]))


def test_roll_distance_of_the_prior_is_its_width_and_codes_off_the_roll_are_far():
    prior = SwissRollPrior(radius=12.0)
    g = torch.Generator().manual_seed(0)
    samples, more = prior.sample(4000, generator=g), prior.sample(4000, generator=g)
    curve = prior._point(torch.linspace(0, 1, 4001))
    # the samples are the curve plus N(0, 0.1²) noise: the distance's median is 0.6745 σ (half-normal)
    same = M.roll_distance(more, samples, curve)
    assert same["prior_median"] == pytest.approx(0.0674, rel=0.08)
    assert same["codes_median"] == pytest.approx(same["prior_median"], rel=0.08)
    assert same["ratio"] == pytest.approx(same["codes_median"] / same["prior_median"])
    spread = M.roll_distance(more + torch.randn(4000, 2, generator=g), samples, curve)
    assert spread["ratio"] > 3


@pytest.mark.parametrize("case", ["unsupervised_swiss_roll", "label_conditioned_swiss_roll"])
def test_evaluate_model_measures_how_far_swiss_roll_codes_lie_from_the_roll(case):
    model = build_model(MODEL_CASES[case], seed=0)
    test = synthetic_images(40, seed=5)
    out = M.evaluate_model(model, test.to_float(), test.labels)
    roll = out["roll_distance"]
    z = M.encode_all(model, test.to_float())
    curve = model.prior._point(torch.linspace(0, 1, 4001))
    assert roll["codes_median"] == pytest.approx(float(M.distance_to_curve(z, curve).median()), rel=1e-5)
    assert 0.03 < roll["prior_median"] < 0.15     # 40 samples of a roll 0.1 wide
    assert M.evaluate_model(model, test.to_float(), test.labels)["roll_distance"] == roll   # seeded


@pytest.mark.parametrize("case", ["unsupervised_gaussian", "label_conditioned_mixture", "supervised", "clustering"])
def test_only_swiss_roll_models_report_a_roll_distance(case):
    model = build_model(MODEL_CASES[case], seed=0)
    test = synthetic_images(20, seed=5)
    assert "roll_distance" not in M.evaluate_model(model, test.to_float(), test.labels)


def test_the_latent_probe_reads_labels_that_the_codes_keep_and_not_those_they_lose():
    from aae_core.latent_probe import linear_svm_accuracy, nearest_neighbour_accuracy
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 8, generator=g) * 6
    train_y, test_y = torch.arange(500) % 10, torch.arange(200) % 10
    train_z = centres[train_y] + torch.randn(500, 8, generator=g)
    test_z = centres[test_y] + torch.randn(200, 8, generator=g)
    assert nearest_neighbour_accuracy(train_z, train_y, test_z, test_y, chunk=64) > 0.95
    assert linear_svm_accuracy(train_z, train_y, test_z, test_y) > 0.95
    noise_z = torch.randn(200, 8, generator=g)              # codes that know nothing of the label
    assert nearest_neighbour_accuracy(train_z, train_y, noise_z, test_y) < 0.3
    assert linear_svm_accuracy(train_z, train_y, noise_z, test_y) < 0.3
    # the nearest neighbour is the nearest: a test code placed on a training code takes that code's label
    one = nearest_neighbour_accuracy(train_z, train_y, train_z[:50] + 1e-3, train_y[:50])
    assert one == 1.0
