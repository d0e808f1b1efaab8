"""Priors: shapes, statistics, label conditioning, reproducibility; ModelConfig validation."""

from __future__ import annotations

import math

import pytest
import torch

from aae_core import priors as P
from aae_core.config import ModelConfig, TrainConfig
from aae_core.prior_shapes import SHAPES, PriorShape, shape_of
from aae_core.priors import CategoricalPrior, GaussianPrior, MixturePrior, SwissRollPrior, build_prior

N = 20_000


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


ALL_PRIORS = {
    "gaussian": lambda: GaussianPrior(3, 2.0),
    "mixture": lambda: MixturePrior(10, 4.0),
    "swiss_roll": lambda: SwissRollPrior(10, 4.0),
    "categorical": lambda: CategoricalPrior(10),
}
COMPONENT_PRIORS = ("mixture", "swiss_roll", "categorical")


def test_registry_names_every_prior_and_builds_from_a_config():
    assert set(P.PRIORS) == {"gaussian", "mixture", "swiss_roll", "categorical"}
    assert isinstance(build_prior(ModelConfig(prior="gaussian", latent_dim=5, prior_std=3.0)), GaussianPrior)
    assert isinstance(build_prior(ModelConfig(prior="mixture")), MixturePrior)
    assert isinstance(build_prior(ModelConfig(prior="swiss_roll")), SwissRollPrior)
    cat = build_prior(ModelConfig(prior="categorical", latent_dim=7, n_classes=7))
    assert isinstance(cat, CategoricalPrior) and cat.dim == 7
    g = build_prior(ModelConfig(prior="gaussian", latent_dim=5, prior_std=3.0))
    assert (g.dim, g.std) == (5, 3.0)


@pytest.mark.parametrize("name", list(ALL_PRIORS))
def test_sample_shape_dtype_device(name):
    prior = ALL_PRIORS[name]()
    z = prior.sample(17, generator=gen())
    assert z.shape == (17, prior.dim)
    assert z.dtype == torch.float32
    assert z.device.type == "cpu"
    assert torch.isfinite(z).all()
    assert prior.sample(5, device="cpu").device.type == "cpu"
    assert prior.sample(0).shape == (0, prior.dim)


@pytest.mark.parametrize("name", list(ALL_PRIORS))
def test_same_seed_same_samples_and_different_seed_different(name):
    prior = ALL_PRIORS[name]()
    a = prior.sample(500, generator=gen(3))
    b = prior.sample(500, generator=gen(3))
    c = prior.sample(500, generator=gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("dim,std", [(1, 1.0), (2, 5.0), (8, 0.5)])
def test_gaussian_moments(dim, std):
    z = GaussianPrior(dim, std).sample(N, generator=gen(1))
    assert z.shape == (N, dim)
    # std error of the sample std is about std / sqrt(2N) (0.5%); allow 3%.
    assert torch.allclose(z.std(0), torch.full((dim,), std), rtol=0.03)
    assert z.mean(0).abs().max() < 0.05 * std
    if dim > 1:
        corr = torch.corrcoef(z.T)
        assert (corr - torch.eye(dim)).abs().max() < 0.05


def test_gaussian_has_no_components_to_assign():
    with pytest.raises(ValueError, match="no components"):
        GaussianPrior(2).assign(torch.zeros(3, 2))


def test_mixture_components_lie_on_the_circle():
    prior = MixturePrior(10, radius=4.0)
    z = prior.sample(N, generator=gen(2))
    r = z.norm(dim=1)
    assert abs(float(r.mean()) - 4.0) < 0.1
    # Uniform over components when no labels are given.
    freq = torch.bincount(prior.assign(z), minlength=10).float() / N
    assert (freq - 0.1).abs().max() < 0.015
    # Component k's mean sits at angle 2πk/10 on the circle of radius 4.
    for k in range(10):
        zk = prior.sample(4000, labels=torch.full((4000,), k), generator=gen(k))
        angle = 2 * math.pi * k / 10
        expected = torch.tensor([4.0 * math.cos(angle), 4.0 * math.sin(angle)])
        assert (zk.mean(0) - expected).norm() < 0.15, k


@pytest.mark.parametrize("name,min_own", [("mixture", 0.99), ("swiss_roll", 0.9), ("categorical", 1.0)])
def test_label_k_draws_from_component_k(name, min_own):
    prior = ALL_PRIORS[name]()
    for k in range(prior.n_components):
        z = prior.sample(2000, labels=torch.full((2000,), k), generator=gen(k))
        own = float((prior.assign(z) == k).float().mean())
        assert own >= min_own, (k, own)


@pytest.mark.parametrize("name", COMPONENT_PRIORS)
def test_label_minus_one_draws_from_any_component(name):
    prior = ALL_PRIORS[name]()
    z = prior.sample(N, labels=torch.full((N,), -1), generator=gen(5))
    freq = torch.bincount(prior.assign(z), minlength=prior.n_components).float() / N
    assert (freq - 1 / prior.n_components).abs().max() < 0.02
    # A mix of given and -1 labels: the given ones are honoured row by row.
    labels = torch.tensor([3, -1] * 1000)
    z = prior.sample(2000, labels=labels, generator=gen(6))
    assigned = prior.assign(z)
    assert float((assigned[::2] == 3).float().mean()) > 0.9
    assert assigned[1::2].unique().numel() >= 8


def test_label_device_sets_sample_device_and_list_labels_work():
    prior = MixturePrior(10)
    labels = torch.arange(10)
    assert prior.sample(10, labels=labels).device == labels.device
    z = prior.sample(10, labels=list(range(10)), generator=gen())
    assert torch.equal(prior.assign(z), torch.arange(10))


def test_swiss_roll_segments_follow_the_roll_outward():
    prior = SwissRollPrior(10, radius=4.0)
    radii = [float(prior.sample(2000, labels=torch.full((2000,), k), generator=gen(k)).norm(dim=1).mean())
             for k in range(10)]
    assert all(a < b for a, b in zip(radii, radii[1:], strict=False)), radii
    assert 0.8 < radii[0] < 1.6 and 3.4 < radii[-1] < 4.2


def test_categorical_is_one_hot_and_uniform():
    prior = CategoricalPrior(10)
    z = prior.sample(N, generator=gen(7))
    assert set(z.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(z.sum(1), torch.ones(N))
    freq = z.mean(0)
    assert (freq - 0.1).abs().max() < 0.015
    z = prior.sample(4, labels=torch.tensor([0, 9, 2, 2]))
    assert torch.equal(z.argmax(1), torch.tensor([0, 9, 2, 2]))
    # constrain maps raw encoder outputs onto the simplex.
    c = prior.constrain(torch.randn(5, 10, generator=gen()))
    assert (c >= 0).all() and torch.allclose(c.sum(1), torch.ones(5))


@pytest.mark.parametrize("name", COMPONENT_PRIORS)
@pytest.mark.parametrize("labels", [
    torch.tensor([0, 10, 1]),        # a label past the last component
    torch.tensor([0, -2, 1]),        # below -1
    torch.tensor([0, 1]),            # wrong count
])
def test_bad_labels_raise_value_error(name, labels):
    prior = ALL_PRIORS[name]()
    with pytest.raises(ValueError, match="labels"):
        prior.sample(3, labels=labels, generator=gen())


# --- ModelConfig / TrainConfig validation --------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(kind="gan"), "kind must be one of unsupervised, supervised, semi_supervised, clustering, vae"),
    (dict(prior="uniform"), "prior must be one of gaussian, mixture, swiss_roll, categorical"),
    (dict(dataset="cifar"), "dataset must be one of mnist, fashion_mnist"),
    (dict(prior="mixture", latent_dim=3), "latent_dim must be 2"),
    (dict(prior="swiss_roll", latent_dim=5), "latent_dim must be 2"),
    (dict(prior="categorical", latent_dim=4, n_classes=10), "latent_dim must equal"),
    (dict(kind="clustering", prior="categorical", latent_dim=10), "categorical prior is for unsupervised"),
    (dict(kind="supervised", prior="mixture"), "Gaussian prior"),
    (dict(label_conditioned=True, n_labels=100), "label_conditioned needs"),
    (dict(prior="mixture", label_conditioned=True), "n_labels must be > 0"),
    (dict(kind="supervised"), "n_labels must be > 0"),
    (dict(kind="semi_supervised"), "n_labels must be > 0"),
    (dict(kind="clustering", n_labels=100), "uses no labels"),
    (dict(kind="vae", n_labels=10), "uses no labels"),
    (dict(kind="clustering", n_classes=1), "n_classes >= 2"),
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(hidden_dim=2.5), "hidden_dim must be a positive integer"),
    (dict(n_hidden_layers=True), "n_hidden_layers must be a positive integer"),
    (dict(n_labels=-1), "n_labels must be an integer >= 0"),
    (dict(prior_std=0.0), "prior_std must be > 0"),
    (dict(prior_radius=-1.0), "prior_radius must be > 0"),
])
def test_model_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_model_config_dict_round_trip_and_unknown_fields():
    cfg = ModelConfig(kind="unsupervised", prior="mixture", n_labels=100, label_conditioned=True, hidden_dim=64)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig fields: colour"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="must be a JSON object"):
        ModelConfig.from_dict(["kind"])
    assert ModelConfig(kind="clustering").classes.predicted and ModelConfig(kind="clustering").classes
    assert not ModelConfig(kind="supervised", n_labels=10).classes.predicted
    assert not ModelConfig().classes


@pytest.mark.parametrize("kwargs,match", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=1.5), "batch_size must be a positive integer"),
    (dict(lr_generator=0.0), "lr_generator must be > 0"),
    (dict(beta1_adversarial=1.0), r"beta1_adversarial must be in \[0, 1\)"),
    (dict(disc_input_noise=-0.1), "disc_input_noise must be >= 0"),
    (dict(eval_size=-1), "eval_size must be >= 0"),
])
def test_train_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
    cfg = TrainConfig(epochs=3, seed=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_each_prior_inherits_its_torch_free_shape_rules_and_an_unknown_name_fixes_nothing():
    assert set(SHAPES) == set(P.PRIOR_TYPES)
    for name, prior in P.PRIOR_TYPES.items():
        assert issubclass(prior, shape_of(name)) and prior.name == name
    assert shape_of("gaussian").has_std and not shape_of("mixture").has_std and shape_of("mixture").parts_per_label
    assert shape_of("categorical").latent_dim_for(7) == 7 and shape_of("swiss_roll").latent_dim_for(7) == 2
    assert shape_of("no such prior") is PriorShape and shape_of(None) is PriorShape
    assert not shape_of("no such prior").has_std and shape_of("no such prior").latent_dim_for(10) is None
    with pytest.raises(ValueError, match="latent_dim must equal n_classes"):
        shape_of("categorical").check_shape(5, 10)
