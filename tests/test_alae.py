"""The ALAE family (Pidhorskyi et al., CVPR 2020): shapes, which weights each phase moves, the R1 penalty,
the learned prior, save / load, every app page, and (slow) a short run on real MNIST."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import every_page_runs, start_app, synthetic_images, tiny_config

import aae_core
from aae_core.families import ALAE, build_model, get_family
from aae_core.families.alae import MappedGaussianPrior
from aae_core.recipes import get_recipe
from aae_core.training import Trainer
from explorer import family_text

REPO = Path(__file__).resolve().parents[1]
N = 6


def tiny(**overrides) -> ALAE:
    return build_model(tiny_config("alae", latent_dim=5, **overrides), seed=0)


def owners(model: ALAE) -> dict[str, str]:
    """Parameter name -> the network it belongs to (mapping, generator_net, encoder, discriminator)."""
    return {name: name.split(".")[0] for name in model.state_dict()}


def changed_networks(before: dict[str, torch.Tensor], model: ALAE) -> set[str]:
    after = model.state_dict()
    return {owners(model)[k] for k in before if not torch.equal(before[k], after[k])}


@pytest.fixture
def trainer() -> Trainer:
    config = get_recipe("alae_mnist").train_config(epochs=1, batch_size=16, eval_size=0)
    return Trainer(tiny(), config, synthetic_images(64), device="cpu")


def test_alae_is_registered_and_its_recipe_and_config_fit():
    assert get_family("alae") is ALAE and ALAE.phases == ("discriminator", "generator", "latent")
    words = family_text.of("alae")
    assert not ALAE.classes and ALAE.classes.noun is None and words.explanation and words.map_note
    assert "never" in words.explanation and "G(E(x))" in words.map_note     # pixels are not a training target
    recipe = get_recipe("alae_mnist")
    model_config, train_config = recipe.model_config(), recipe.train_config()
    assert (model_config.kind, model_config.latent_dim, train_config.batch_size) == ("alae", 50, 128)
    with pytest.raises(ValueError, match="uses no labels"):
        tiny_config("alae", n_labels=10)
    with pytest.raises(ValueError, match="prior_std has no effect"):
        tiny_config("alae", prior_std=5.0)
    with pytest.raises(ValueError, match="Gaussian"):
        tiny_config("alae", prior="mixture")


def test_shapes_of_the_four_networks_and_the_queries():
    model = tiny().eval()
    x = torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    w = model.encode(x)
    assert w.shape == (N, 5) and torch.equal(w, model.encode(x.reshape(N, -1)))
    assert model.decode(w).shape == (N, 1, 28, 28) and model.reconstruct(x).shape == (N, 1, 28, 28)
    assert torch.equal(model.reconstruct(x), model.decode(w))                # reconstruction is G(E(x))
    assert model._map(torch.randn(N, 5)).shape == (N, 5) and model._score(w).shape == (N,)
    # F has 3 x n_hidden_layers layers, D n_hidden_layers + 1 (the paper's MNIST sizes for the default 2)
    linear = lambda net: sum(1 for m in net if hasattr(m, "weight"))    # noqa: E731
    assert (linear(model.mapping), linear(model.discriminator)) == (6, 3)
    with pytest.raises(ValueError, match="z must be a float tensor"):
        model.decode(torch.zeros(N, 4))


def test_the_prior_is_the_mapping_of_a_gaussian_sampled_without_gradients():
    model = tiny()
    assert isinstance(model.prior, MappedGaussianPrior)
    a = model.prior.sample(8, generator=torch.Generator().manual_seed(3))
    b = model.prior.sample(8, generator=torch.Generator().manual_seed(3))
    assert a.shape == (8, 5) and a.device.type == "cpu" and torch.equal(a, b) and not a.requires_grad
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, model._map(z).detach())
    assert model.prior.sample(3, device="cpu").shape == (3, 5)
    with pytest.raises(ValueError, match="no per-label parts"):
        model.prior.sample(2, labels=torch.tensor([1, 2]))


@pytest.mark.parametrize("phase, owned", [("discriminator", {"encoder", "discriminator"}),
                                          ("generator", {"mapping", "generator_net"}),
                                          ("latent", {"encoder", "generator_net"})])
def test_each_phase_changes_only_the_weights_it_owns(trainer, phase, owned):
    model = trainer.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = trainer.run_phase(phase, trainer._batch(torch.arange(16)))
    assert torch.isfinite(loss)
    assert changed_networks(before, model) == owned


def test_the_r1_penalty_is_positive_and_reaches_only_the_encoder_and_discriminator():
    model = tiny()
    x = synthetic_images(8).to_float()
    _, r1 = model._r1_penalty(x)
    assert r1.item() > 0
    r1.backward()
    got = {owners(model)[name] for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert got == {"encoder", "discriminator"}


def test_save_load_round_trip_is_exact(tmp_path, trainer):
    trainer.fit()
    model = trainer.model.eval()
    loaded = aae_core.load(aae_core.save(model, tmp_path / "alae", trainer=trainer))
    assert type(loaded) is ALAE and isinstance(loaded.prior, MappedGaussianPrior)
    assert loaded.prior.mapping is loaded.mapping                          # the prior samples the loaded F
    sd, ld = model.state_dict(), loaded.state_dict()
    assert sd.keys() == ld.keys() and all(torch.equal(sd[k], ld[k]) for k in sd)
    x = synthetic_images(5).to_float()
    assert torch.equal(loaded.encode(x), model.encode(x))
    g = lambda: torch.Generator().manual_seed(0)   # noqa: E731
    assert torch.equal(loaded.prior.sample(4, generator=g()), model.prior.sample(4, generator=g()))


def test_per_epoch_and_evaluation_metrics(trainer, fake_mnist_dir, tmp_path):
    from aae_core.evaluate import evaluate_checkpoint
    from aae_core.judge import DigitJudge

    trainer.eval_set = synthetic_images(40, seed=3)
    trainer.fit()
    history = trainer.state.history[-1]
    assert {"loss_discriminator", "loss_generator", "loss_latent", "eval_latent_mse", "eval_sample_ink"} <= set(history)
    judged = trainer.model._judge_metrics(DigitJudge(), synthetic_images(30).to_float(), synthetic_images(30).labels,
                                          n_samples=50)                       # what metrics(judge=...) reports
    assert 0 <= judged["recon_same_digit"] <= 1 and abs(sum(judged["sample_digit_shares"]) - 1) < 1e-6
    metrics = evaluate_checkpoint(aae_core.save(trainer.model, tmp_path / "m"), data_dir=fake_mnist_dir, device="cpu")
    assert metrics["kind"] == "alae" and "mmd" in metrics["prior_fit"]    # E(x) against F(z)
    assert "sample_sure_fraction" in metrics["alae_judge"]                  # the shipped judge read it
    headline = family_text.of("alae").headline
    assert headline.label == "generated digits the judge is sure of"
    assert headline.read(metrics) == metrics["alae_judge"]["sample_sure_fraction"]
    assert metrics["alae_judge"]["judge"] and "latent_reconstruction_mse" in metrics    # the judge is named


def test_every_app_page_works_with_an_alae_picked(tmp_path, fake_mnist_dir, monkeypatch):
    folder = aae_core.save(tiny(), tmp_path / "checkpoints" / "alae_tiny")
    at = start_app(folder.parent, fake_mnist_dir, tmp_path, monkeypatch, timeout=60)
    assert at.selectbox(key="model_ref").value == str(folder.resolve())
    assert "ALAE" in [c.value for c in at.sidebar.caption][0]
    assert any(family_text.of("alae").explanation in m.value for m in at.markdown)   # Home explains the family
    assert any(c.startswith("The networks of an ALAE") for im in at.image for c in im.captions)
    every_page_runs(at)
    at.switch_page("explorer/pages/style_class.py").run()
    assert any("class code" in i.value for i in at.info)                    # no class code: said, not failed
    at.switch_page("explorer/pages/latent_map.py").run()
    assert any("F(z)" in m.value for m in at.markdown)                      # the family's own map note
    for source, index in ((0, 3), (1, 2)):                                   # a test image, then an F(z) sample
        point = {"curve_number": 0, "point_number": index, "point_index": index, "x": 0.0, "y": 0.0,
                 "customdata": {"0": source, "1": index, "2": -1}}
        at.session_state["latent_map_chart"] = {"selection": {"points": [point], "point_indices": [index],
                                                              "box": [], "lasso": []}}
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert any(c.startswith("Decoded") for im in at.image for c in im.captions)
    at.switch_page("explorer/pages/sliders.py").run()
    assert not at.exception and at.slider


@pytest.mark.slow
def test_a_short_run_on_real_mnist_learns_to_invert_the_generator_and_draws_ink():
    """About a minute on one thread: 8,000 images, 2 epochs, the recipe's optimiser at a smaller size."""
    from aae_core.data import ImageSet, load_dataset

    torch.manual_seed(0)
    train, test = load_dataset("mnist")
    recipe = get_recipe("alae_mnist")
    model = build_model(recipe.model_config(hidden_dim=256, disc_hidden_dim=128), seed=0)
    trainer = Trainer(model, recipe.train_config(epochs=2, eval_size=500),
                      ImageSet(train.images[:8000], train.labels[:8000]), eval_set=test.subset(500), device="cpu")
    start = model._latent_reconstruction_error()
    trainer.fit()
    end = model._latent_reconstruction_error()
    assert end < 0.5 * start, (start, end)
    samples = model.eval().decode(model.prior.sample(200, generator=torch.Generator().manual_seed(0)))
    ink = samples.mean().item()
    assert 0.05 < ink < 0.6, ink             # not blank (MNIST digits: about 0.13; G starts at a grey 0.5)
    assert samples.reshape(200, -1).std(0).mean().item() > 0.02              # not one image 200 times
