"""Metrics on hand-made inputs whose answers are known."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_images
from model_cases import MODEL_CASES

from aae_core import metrics as M
from aae_core.families import build_model


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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
    monkeypatch.setattr(model, "_reconstruct_logits", lambda xb, y=None: torch.full_like(xb, -1e4))
    blank = M.reconstruction_error(model, x)
    assert blank["mse"] == pytest.approx(float((x ** 2).mean()), rel=1e-5)
    monkeypatch.setattr(model, "_reconstruct_logits", lambda xb, y=None: torch.logit(xb, eps=1e-7))
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
