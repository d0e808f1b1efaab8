"""Every model family: encode / decode / classify / reconstruct shapes, ranges and input checks."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_config
from model_cases import CASE_IDS, MODEL_CASES, class_code

from aae_core.config import IMAGE_SIZE
from aae_core.families import (
    VAE,
    AdversarialAutoencoder,
    CategoricalAAE,
    ClusteringAAE,
    SemiSupervisedAAE,
    SupervisedAAE,
    build_model,
    flatten_images,
)
from aae_core.families.base import Batch

N = 6


def images(n: int = N, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(params=CASE_IDS)
def model(request):
    return build_model(MODEL_CASES[request.param], seed=0).eval()


def test_build_model_picks_the_class_for_each_kind():
    expected = {"unsupervised_gaussian": AdversarialAutoencoder, "supervised": SupervisedAAE,
                "semi_supervised": SemiSupervisedAAE, "clustering": ClusteringAAE, "vae": VAE}
    for case, cls in expected.items():
        assert type(build_model(MODEL_CASES[case])) is cls
    assert issubclass(SemiSupervisedAAE, CategoricalAAE) and issubclass(ClusteringAAE, CategoricalAAE)


def test_build_model_seed_fixes_initial_weights():
    cfg = MODEL_CASES["semi_supervised"]
    a, b, c = build_model(cfg, seed=1), build_model(cfg, seed=1), build_model(cfg, seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_encode_shape_for_both_image_layouts(model):
    x = images()
    z4 = model.encode(x)
    z2 = model.encode(x.reshape(N, IMAGE_SIZE))
    assert z4.shape == (N, model.config.latent_dim)
    assert torch.equal(z4, z2)
    assert torch.isfinite(z4).all()


def test_categorical_prior_codes_land_on_the_simplex():
    model = build_model(MODEL_CASES["unsupervised_categorical"], seed=0)
    z = model.encode(images())
    assert (z >= 0).all() and torch.allclose(z.sum(1), torch.ones(N))
    raw = model.encoder(images().reshape(N, -1))
    assert torch.equal(z, torch.softmax(raw, dim=-1))


def test_decode_shape_and_range(model):
    cfg = model.config
    z = model.prior.sample(N, generator=torch.Generator().manual_seed(0))
    out = model.decode(z, class_code(cfg, N))
    assert out.shape == (N, 1, 28, 28)
    assert out.dtype == torch.float32
    assert (out >= 0).all() and (out <= 1).all()


def test_reconstruct_shape(model):
    cfg = model.config
    if cfg.kind == "supervised":
        out = model.reconstruct(images(), class_code(cfg, N))
    else:
        out = model.reconstruct(images())
    assert out.shape == (N, 1, 28, 28)
    assert (out >= 0).all() and (out <= 1).all()


def test_classify_where_the_model_has_a_classifier(model):
    cfg = model.config
    if cfg.classes.predicted:
        logits = model.classify(images())
        assert logits.shape == (N, cfg.n_classes)
        assert torch.isfinite(logits).all()
    else:
        with pytest.raises(ValueError, match="has no classifier"):
            model.classify(images())


def test_class_conditioned_decoders_need_y(model):
    cfg = model.config
    z = torch.zeros(N, cfg.latent_dim)
    if not cfg.classes:
        assert model.decode(z).shape == (N, 1, 28, 28)
        return
    with pytest.raises(ValueError, match="pass y"):
        model.decode(z)
    k = cfg.n_classes
    # int labels and their one-hot give the same images; the class code changes them.
    labels = torch.arange(N) % k
    by_label = model.decode(z, labels)
    by_onehot = model.decode(z, torch.nn.functional.one_hot(labels, k).float())
    assert torch.equal(by_label, by_onehot)
    assert not torch.allclose(model.decode(z, (labels + 1) % k), by_label)
    for bad in (torch.full((N,), k), torch.full((N,), -1), torch.zeros(N + 1, dtype=torch.long),
                torch.zeros(N, k + 1), torch.zeros(N, 2, k)):
        with pytest.raises(ValueError, match="y must"):
            model.decode(z, bad)


@pytest.mark.parametrize("bad", [
    torch.rand(N, 28, 28),            # no channel axis
    torch.rand(N, 3, 28, 28),         # colour
    torch.rand(N, 1, 32, 32),         # wrong size
    torch.rand(N, 783),
    torch.rand(28, 28, 1, N),
    torch.zeros(N, 1, 28, 28, dtype=torch.uint8),   # not floats in [0, 1]
])
def test_encode_rejects_wrong_image_shapes(model, bad):
    with pytest.raises(ValueError, match="images must be"):
        model.encode(bad)


def test_flatten_images_rejects_non_tensors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        flatten_images([[0.0] * 784])


def test_decode_rejects_wrong_code_shapes(model):
    d = model.config.latent_dim
    y = class_code(model.config, N)
    for bad in (torch.zeros(N, d + 1), torch.zeros(N), torch.zeros(N, d, 1)):
        with pytest.raises(ValueError, match=rf"z must be a float tensor \[N, {d}\]"):
            model.decode(bad, y)


def test_queries_work_under_no_grad_and_do_not_track_gradients(model):
    cfg = model.config
    with torch.no_grad():
        z = model.encode(images())
        out = model.decode(z, class_code(cfg, N))
        if cfg.classes.predicted:
            assert not model.classify(images()).requires_grad
    assert not z.requires_grad and not out.requires_grad
    # Outside no_grad the same call is differentiable (the Trainer relies on it).
    assert model.encode(images()).requires_grad


def test_encode_is_deterministic_in_eval_mode(model):
    x = images()
    assert torch.equal(model.encode(x), model.encode(x))


def test_vae_encode_is_the_posterior_mean():
    model = build_model(MODEL_CASES["vae"], seed=0)
    mu, logvar = model._posterior(images())
    assert torch.equal(model.encode(images()), mu)
    assert logvar.shape == mu.shape and (logvar >= -20).all() and (logvar <= 10).all()


def test_categorical_model_splits_encoder_output_into_class_and_style():
    model = build_model(MODEL_CASES["clustering"], seed=0)
    x = images()
    raw = model.encoder(x.reshape(N, -1))
    assert torch.equal(model.classify(x), raw[:, :16])
    assert torch.equal(model.encode(x), raw[:, 16:])


def test_label_conditioned_discriminator_sees_the_label_slot():
    model = build_model(MODEL_CASES["label_conditioned_mixture"], seed=0)
    # n_classes one-hot slots plus one for "unlabelled" (paper §2.3).
    assert model.discriminator.cond_dim == 11
    assert model.discriminator.net[0].in_features == 2 + 11
    plain = build_model(MODEL_CASES["unsupervised_mixture"], seed=0)
    assert plain.discriminator.cond_dim == 0


@pytest.mark.parametrize("case", ["label_conditioned_semi_supervised", "label_conditioned_clustering"])
def test_a_label_conditioned_style_d_is_shown_the_encoders_class_on_both_sides(case, monkeypatch):
    model = build_model(MODEL_CASES[case], seed=0)
    k = model.config.n_classes
    assert model.discriminator_z.cond_dim == k and model.discriminator_y.cond_dim == 0
    assert build_model(MODEL_CASES[case.removeprefix("label_conditioned_")], seed=0).discriminator_z.cond_dim == 0
    x = images()
    shown = []
    forward = model.discriminator_z.forward
    monkeypatch.setattr(model.discriminator_z, "forward",
                        lambda code, cond=None: shown.append(cond) or forward(code, cond))
    batch = Batch(x=x.reshape(N, -1), x_labelled=x.reshape(N, -1), y_labelled=torch.arange(N) % 10)
    expected = torch.nn.functional.one_hot(model.classify(x).argmax(dim=1), k).float()
    model.phase_loss("discriminator", batch, noise_std=0.3)
    assert len(shown) == 2 and torch.equal(shown[0], expected) and torch.equal(shown[1], expected)
    shown.clear()
    last = model.discriminator_y.net[-1]                      # the class D's term: a constant, no gradient
    torch.nn.init.zeros_(last.weight), torch.nn.init.zeros_(last.bias)
    model.phase_loss("generator", batch, noise_std=0.3).backward()
    assert len(shown) == 1 and torch.equal(shown[0], expected)
    head = model.encoder[-1].weight.grad
    # the style term reaches the encoder through z only: the class head's rows get nothing from the condition
    assert head[:k].abs().sum() == 0 and head[k:].abs().sum() > 0


def test_a_label_conditioned_style_d_reads_each_label_and_averages_unknown_ones():
    model = build_model(MODEL_CASES["label_conditioned_semi_supervised"], seed=0)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        every = torch.stack([model.discriminator_z(z, torch.nn.functional.one_hot(torch.full((6,), c), 10).float())
                             for c in range(10)], dim=1)
        got = model.latent_critic(z, torch.tensor([0, 3, 9, -1, 3, 5]))
        assert torch.allclose(got[[0, 1, 2, 4, 5]], every[[0, 1, 2, 4, 5], [0, 3, 9, 3, 5]])
        assert torch.allclose(got[3], every[3].mean()) and torch.allclose(model.latent_critic(z), every.mean(dim=1))
        assert not torch.allclose(every[:, 0], every[:, 9])
    with pytest.raises(ValueError, match="labels must be 6 ints in 0..9"):
        model.latent_critic(z, torch.tensor([0, 1, 2, 3, 4, 10]))


def test_only_a_label_conditioned_style_d_can_tell_a_style_that_carries_the_class():
    """The marginal of z is exactly N(0, 1) while each class holds one half of it: the unconditioned D cannot do
    better than chance, the conditioned one learns to tell the encoder's codes from the prior's."""
    final = {}
    for conditioned in (False, True):
        config = tiny_config("semi_supervised", latent_dim=1, n_classes=2, label_conditioned=conditioned,
                             disc_hidden_dim=32)
        model = build_model(config, seed=0)
        last = model.discriminator_y.net[-1]
        torch.nn.init.zeros_(last.weight), torch.nn.init.zeros_(last.bias)   # its term: a constant 2 ln 2
        gen = torch.Generator().manual_seed(0)

        def heads(x, gen=gen):
            e = torch.randn(x.shape[0], 1, generator=gen).abs()
            cls = torch.arange(x.shape[0]) % 2                    # class 0: z >= 0, class 1: z <= 0
            return 8.0 * torch.nn.functional.one_hot(cls, 2).float(), torch.where(cls[:, None] == 0, e, -e)

        model._heads = heads
        opt = torch.optim.Adam(model.discriminator_z.parameters(), lr=2e-3)
        batch = Batch(x=torch.zeros(256, 784))
        for _ in range(300):
            opt.zero_grad()
            model.phase_loss("discriminator", batch, generator=gen).backward()
            opt.step()
        with torch.no_grad():
            style = [float(model.phase_loss("discriminator", batch, generator=gen)) - 2 * math.log(2)
                     for _ in range(10)]
        final[conditioned] = sum(style) / len(style)
    # chance is 2 ln 2 = 1.386; the best a conditioned D can do here is ln(3) / 2 - ln(2/3) = 0.955
    # (where z < 0 a class-0 code is surely the prior's; where z >= 0 the encoder's are twice as dense)
    assert final[False] > 1.3, final
    assert final[True] < 1.15, final


def test_phase_lists():
    assert build_model(MODEL_CASES["unsupervised_gaussian"]).phases == ("reconstruction", "discriminator", "generator")
    assert build_model(MODEL_CASES["supervised"]).phases == ("reconstruction", "discriminator", "generator")
    assert build_model(MODEL_CASES["semi_supervised"]).phases == (
        "reconstruction", "discriminator", "generator", "supervised")
    assert build_model(MODEL_CASES["clustering"]).phases == ("reconstruction", "discriminator", "generator")
    assert build_model(MODEL_CASES["vae"]).phases == ("elbo",)
