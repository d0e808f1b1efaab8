"""Training options: random shifts of the training images (augment_shift), a denoising encoder input
(input_noise), and label-conditioned supervised models."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import synthetic_images, tiny_config
from model_cases import CASE_IDS, MODEL_CASES

from aae_core import losses
from aae_core import metrics as M
from aae_core import train as train_cli
from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import ImageSet, label_split
from aae_core.families import Batch, build_model
from aae_core.training import Trainer

N = 60
SIDE = 28
MARGIN = 9   # content only in rows / columns [MARGIN, 28 - MARGIN): an 8-pixel shift keeps it all in view


def centred_images(n: int = N, seed: int = 0) -> ImageSet:
    """n distinct images whose random content sits away from the border, so a shift loses nothing."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, SIDE, SIDE, dtype=torch.uint8)
    images[:, MARGIN:SIDE - MARGIN, MARGIN:SIDE - MARGIN] = torch.randint(
        1, 256, (n, SIDE - 2 * MARGIN, SIDE - 2 * MARGIN), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.arange(n) % 10)


def trainer_for(train_config: TrainConfig, config: ModelConfig | None = None, *, data: ImageSet | None = None,
                n_labelled: int = 20) -> Trainer:
    config = config or tiny_config("unsupervised", hidden_dim=8, disc_hidden_dim=8, n_hidden_layers=1)
    data = centred_images() if data is None else data
    labelled = None
    if config.n_labels:
        labelled = label_split(data.labels, len(data) if config.kind == "supervised" else n_labelled, seed=0)
    return Trainer(build_model(config, seed=0), train_config, data, labelled=labelled, device="cpu")


def shifts(originals: torch.Tensor, shifted: torch.Tensor, k: int) -> list[tuple[int, int] | None]:
    """For each row: the (dy, dx) with |dy|, |dx| <= k that turns the original into the shifted image
    exactly, or None when no such translation exists. Both [B, 784] floats."""
    a, b = originals.reshape(-1, SIDE, SIDE), shifted.reshape(-1, SIDE, SIDE)
    found: list[tuple[int, int] | None] = [None] * a.shape[0]
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            same = (torch.roll(a, (dy, dx), dims=(1, 2)) == b).flatten(1).all(1)
            for i in torch.nonzero(same).flatten().tolist():
                found[i] = (dy, dx)
    return found


def clean(data: ImageSet, idx: torch.Tensor) -> torch.Tensor:
    return data.images[idx].reshape(len(idx), -1).float() / 255.0


# --- TrainConfig validation ------------------------------------------------------------------------

@pytest.mark.parametrize("value", [-1, 9, 100, True, 1.5, 2.0, "2", None])
def test_augment_shift_must_be_a_whole_number_of_pixels_up_to_8(value):
    with pytest.raises(ValueError, match="augment_shift"):
        TrainConfig(augment_shift=value)


@pytest.mark.parametrize("value", [-0.1, -1])
def test_negative_input_noise_is_rejected(value):
    with pytest.raises(ValueError, match="input_noise must be >= 0"):
        TrainConfig(input_noise=value)


def test_new_options_default_off_accept_their_range_and_round_trip():
    assert TrainConfig().augment_shift == 0 and TrainConfig().input_noise == 0.0
    for k in (0, 1, 8):
        assert TrainConfig(augment_shift=k).augment_shift == k
    cfg = TrainConfig(augment_shift=3, input_noise=0.25)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # a training dict written before these options existed still loads, with both off
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("augment_shift", "input_noise")}
    assert TrainConfig.from_dict(old) == dataclasses.replace(cfg, augment_shift=0, input_noise=0.0)


@pytest.mark.parametrize("args,match", [
    (["--augment-shift", "9"], "augment_shift must be a whole number of pixels in [0, 8]; got 9"),
    (["--input-noise", "-0.5"], "input_noise must be >= 0; got -0.5"),
])
def test_train_cli_rejects_bad_option_values(args, match, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        train_cli.main(["--out", str(tmp_path / "run"), "--device", "cpu", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m aae_core.train: error: ") and match in err[-1], err
    assert not (tmp_path / "run").exists()


# --- augment_shift ---------------------------------------------------------------------------------

def test_shift_zero_gives_the_images_unchanged():
    data = centred_images()
    trainer = trainer_for(TrainConfig(batch_size=20, augment_shift=0))
    idx = torch.tensor([5, 0, 59, 17])
    batch = trainer._batch(idx)
    assert torch.equal(batch.x, clean(data, idx))
    assert batch.x_noisy is None


@pytest.mark.parametrize("k", [1, 3, 8])
def test_shifted_images_are_whole_pixel_translations_of_at_most_k(k):
    data = centred_images()
    trainer = trainer_for(TrainConfig(batch_size=20, augment_shift=k), data=data)
    idx = torch.arange(N)
    x = trainer._batch(idx).x
    assert x.shape == (N, SIDE * SIDE) and x.dtype == torch.float32
    found = shifts(clean(data, idx), x, k)
    assert None not in found, "some image is not a translation by at most k pixels"
    # nothing falls off the edge and nothing is added: the total brightness is kept
    assert torch.allclose(x.sum(1), clean(data, idx).sum(1))
    # the shifts vary from image to image and reach both extremes on both axes
    assert len(set(found)) > 1
    assert {dy for dy, _ in found} >= {-k, k} and {dx for _, dx in found} >= {-k, k}


def test_a_single_bright_pixel_moves_by_at_most_k_in_each_axis():
    k, r, c = 2, 14, 13
    images = torch.zeros(40, SIDE, SIDE, dtype=torch.uint8)
    images[:, r, c] = 255
    data = ImageSet(images, torch.arange(40) % 10)
    x = trainer_for(TrainConfig(batch_size=20, augment_shift=k), data=data)._batch(torch.arange(40)).x
    assert torch.equal(x.sum(1), torch.ones(40))
    pos = x.argmax(1)
    dy, dx = pos // SIDE - r, pos % SIDE - c
    assert dy.abs().max() <= k and dx.abs().max() <= k
    assert (dy != 0).any() and (dx != 0).any()


def test_each_training_step_draws_fresh_shifts_and_the_seed_fixes_them():
    def recorded_fit(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        data = centred_images(20)
        trainer = trainer_for(TrainConfig(epochs=3, batch_size=20, eval_size=0, augment_shift=2, seed=seed),
                              data=data)
        seen, make_batch = [], trainer._batch

        def spy(idx):
            batch = make_batch(idx)
            seen.append((idx.clone(), batch.x.clone()))
            return batch

        trainer._batch = spy
        assert trainer.fit() == "finished"
        return seen

    steps = recorded_fit(seed=0)
    assert len(steps) == 3   # one batch of all 20 images per epoch
    data = centred_images(20)
    per_step = []
    for idx, x in steps:
        found = shifts(clean(data, idx), x, 2)
        assert None not in found
        per_step.append(dict(zip(idx.tolist(), found, strict=True)))
    # the same image is shifted differently from one step to the next
    assert per_step[0] != per_step[1] and per_step[1] != per_step[2]
    again = recorded_fit(seed=0)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(steps, again, strict=True))
    other = recorded_fit(seed=1)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(steps, other, strict=True))


def test_the_labelled_batch_of_a_semi_supervised_trainer_is_shifted_too():
    k = 3
    data = centred_images()
    config = tiny_config("semi_supervised", latent_dim=2, hidden_dim=8, disc_hidden_dim=8, n_hidden_layers=1)
    trainer = trainer_for(TrainConfig(batch_size=20, labelled_batch_size=30, augment_shift=k), config, data=data)
    lab = trainer.labelled_idx
    batch = trainer._batch(torch.arange(20))
    assert batch.x_labelled.shape == (30, SIDE * SIDE)
    assert None not in shifts(clean(data, torch.arange(20)), batch.x, k)
    # each labelled row is one of the labelled images, translated by at most k, with that image's label
    moved = 0
    for row, y in zip(batch.x_labelled, batch.y_labelled, strict=True):
        found = shifts(clean(data, lab), row.expand(len(lab), -1), k)
        matches = [(int(lab[j]), s) for j, s in enumerate(found) if s is not None]
        assert matches, "a labelled row is not a shifted labelled image"
        assert all(data.labels[i] == y for i, _ in matches)
        moved += all(s != (0, 0) for _, s in matches)
    assert moved > 0


# --- input_noise -----------------------------------------------------------------------------------

def test_batch_inputs_are_x_unless_x_noisy_is_set():
    x = torch.rand(3, 784)
    assert Batch(x=x).inputs is x
    noisy = x + 1
    assert Batch(x=x, x_noisy=noisy).inputs is noisy


def test_without_input_noise_the_encoder_sees_the_clean_batch():
    trainer = trainer_for(TrainConfig(batch_size=20))
    batch = trainer._batch(torch.arange(20))
    assert batch.x_noisy is None and batch.inputs is batch.x


@pytest.mark.parametrize("shift", [0, 2])
def test_input_noise_keeps_x_clean_and_adds_noise_of_that_std(shift):
    data = centred_images()
    trainer = trainer_for(TrainConfig(batch_size=20, input_noise=0.3, augment_shift=shift), data=data)
    idx = torch.arange(N)
    batch = trainer._batch(idx)
    # x is the reconstruction target: the (shifted) clean image
    if shift:
        assert None not in shifts(clean(data, idx), batch.x, shift)
    else:
        assert torch.equal(batch.x, clean(data, idx))
    assert batch.inputs is batch.x_noisy
    # x_noisy is that same image plus N(0, 0.3²): the noise is added after the shift, not to another copy
    noise = batch.x_noisy - batch.x
    assert noise.std().item() == pytest.approx(0.3, rel=0.03)
    assert abs(noise.mean().item()) < 0.01
    assert (noise != 0).float().mean() > 0.99


def test_input_noise_is_fixed_by_the_seed():
    def noisy(seed):
        return trainer_for(TrainConfig(batch_size=20, input_noise=0.2, seed=seed))._batch(torch.arange(20)).x_noisy

    assert torch.equal(noisy(0), noisy(0))
    assert not torch.equal(noisy(0), noisy(1))


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_the_labelled_batch_gets_the_input_noise(noise):
    data = centred_images()
    config = tiny_config("semi_supervised", latent_dim=2, hidden_dim=8, disc_hidden_dim=8, n_hidden_layers=1)
    trainer = trainer_for(TrainConfig(batch_size=20, labelled_batch_size=10, input_noise=noise), config, data=data)
    batch = trainer._batch(torch.arange(20))
    originals = clean(data, trainer.labelled_idx)
    for row in batch.x_labelled:
        residual_std = (row - originals).std(dim=1).min().item()   # against the image it was drawn from
        if noise:
            assert residual_std == pytest.approx(noise, rel=0.15)
        else:
            assert residual_std == 0.0


def make_batch(config: ModelConfig, n: int = 16) -> Batch:
    data = synthetic_images(n, seed=3)
    x, y = data.to_float(), data.labels
    if config.kind == "semi_supervised":
        return Batch(x=x, x_labelled=x[:8], y_labelled=y[:8])
    return Batch(x=x, y=y if config.n_labels else None)


def phase_loss(model, phase: str, batch: Batch) -> torch.Tensor:
    with torch.no_grad():
        return model.phase_loss(phase, batch, noise_std=0.3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("case", CASE_IDS)
def test_every_phase_encodes_batch_inputs_and_rebuilds_the_clean_x(case):
    model = build_model(MODEL_CASES[case], seed=0)
    batch = make_batch(model.config)
    other = torch.rand(batch.x.shape, generator=torch.Generator().manual_seed(1))
    for phase in model.phases:
        plain = phase_loss(model, phase, batch)
        same = phase_loss(model, phase, dataclasses.replace(batch, x_noisy=batch.x.clone()))
        noisy = phase_loss(model, phase, dataclasses.replace(batch, x_noisy=other))
        assert torch.equal(plain, same), phase
        if phase == "supervised":   # the classifier's phase reads the labelled batch only
            assert torch.equal(plain, noisy)
        elif phase == "consistency":   # VAT anchors at the clean image: the prediction there is its target
            assert torch.equal(plain, noisy) and float(plain) > 0
        else:
            # (bit-identical if x_noisy were ignored; an untrained categorical code barely moves the loss)
            assert not torch.equal(plain, noisy), f"{phase} ignores x_noisy"
        if phase == "reconstruction":
            with torch.no_grad():
                logits = model.reconstruct(other, batch.y, logits=True)
                assert torch.allclose(noisy, losses.reconstruction_bce(logits, batch.x))
                assert not torch.allclose(noisy, losses.reconstruction_bce(logits, other))


def test_a_short_denoising_fit_with_shifts_runs_and_learns():
    config = tiny_config("unsupervised", hidden_dim=32)
    data = synthetic_images(200)
    trainer = Trainer(build_model(config, seed=0),
                      TrainConfig(epochs=3, batch_size=20, eval_size=0, augment_shift=1, input_noise=0.2),
                      data, device="cpu")
    x = synthetic_images(100, seed=7).to_float()
    before = M.reconstruction_error(trainer.model, x)["bce"]
    assert trainer.fit() == "finished"
    losses_per_epoch = [h["loss_reconstruction"] for h in trainer.state.history]
    assert all(torch.isfinite(torch.tensor(losses_per_epoch)))
    assert M.reconstruction_error(trainer.model, x)["bce"] < 0.9 * before


# --- label-conditioned supervised models -----------------------------------------------------------

def test_supervised_models_may_be_label_conditioned():
    cfg = tiny_config("supervised", latent_dim=3, label_conditioned=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    model = build_model(cfg, seed=0)
    # D sees z and a one-hot of the label with one extra ("unlabelled") slot
    assert model.discriminator.cond_dim == cfg.n_classes + 1
    assert model.discriminator.net[0].in_features == cfg.latent_dim + cfg.n_classes + 1
    plain = build_model(tiny_config("supervised", latent_dim=3), seed=0)
    assert plain.discriminator.net[0].in_features == 3


@pytest.mark.parametrize("value", ["no", 1, None])
def test_label_conditioned_must_be_true_or_false(value):
    with pytest.raises(ValueError, match="label_conditioned must be true or false"):
        tiny_config("semi_supervised", label_conditioned=value)


@pytest.mark.parametrize("kind", ["semi_supervised", "clustering"])
def test_categorical_models_may_be_label_conditioned_and_read_back_so(kind):
    cfg = tiny_config(kind, label_conditioned=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg and cfg.label_conditioned
    old = cfg.to_dict()
    del old["label_conditioned"]                  # a config.json written before the option existed
    assert ModelConfig.from_dict(old).label_conditioned is False


@pytest.mark.parametrize("kwargs,match", [
    (dict(kind="semi_supervised", n_labels=0), "n_labels must be > 0"),
    (dict(kind="clustering", n_labels=100), "n_labels must be 0"),
    (dict(kind="vae"), "label_conditioned needs"),
    (dict(kind="unsupervised", n_labels=100), "label_conditioned needs"),
    (dict(kind="unsupervised", prior="categorical", latent_dim=10, n_labels=100), "label_conditioned needs"),
    (dict(kind="supervised", n_labels=0), "n_labels must be > 0"),
])
def test_label_conditioned_is_still_refused_where_it_means_nothing(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(label_conditioned=True, hidden_dim=8, disc_hidden_dim=8, **kwargs)


def test_the_label_reaches_the_discriminator_of_a_label_conditioned_supervised_model():
    model = build_model(tiny_config("supervised", latent_dim=3, label_conditioned=True), seed=0)
    batch = make_batch(model.config)
    shuffled = dataclasses.replace(batch, y=(batch.y + 1) % 10)
    for phase in ("discriminator", "generator"):
        assert not torch.allclose(phase_loss(model, phase, batch), phase_loss(model, phase, shuffled)), phase
    plain = build_model(tiny_config("supervised", latent_dim=3), seed=0)
    assert torch.equal(phase_loss(plain, "discriminator", batch), phase_loss(plain, "discriminator", shuffled))


def test_evaluate_model_of_a_label_conditioned_supervised_model_has_no_component_metrics():
    model = build_model(tiny_config("supervised", latent_dim=3, label_conditioned=True), seed=0)
    test = synthetic_images(40, seed=5)
    out = M.evaluate_model(model, test.to_float(), test.labels)
    assert "own_component_fraction" not in out and "component_purity_error" not in out
    assert 0 < out["reconstruction"]["mse"] < 1
    # while a label-conditioned mixture still reports it
    mixture = build_model(MODEL_CASES["label_conditioned_mixture"], seed=0)
    assert "own_component_fraction" in M.evaluate_model(mixture, test.to_float(), test.labels)


# --- class_code_noise ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_class_code_noise_must_be_non_negative(bad):
    with pytest.raises(ValueError, match="class_code_noise"):
        TrainConfig(class_code_noise=bad)


def test_class_code_noise_changes_only_the_class_discriminator_input():
    model = build_model(MODEL_CASES["semi_supervised"], seed=0)
    batch = Batch(x=torch.rand(8, 784), x_labelled=torch.rand(4, 784), y_labelled=torch.arange(4))

    def loss(phase, **kw):
        return model.phase_loss(phase, batch, generator=torch.Generator().manual_seed(0), **kw)

    for phase in ("discriminator", "generator"):
        same = loss(phase, noise_std=0.3)
        assert torch.equal(loss(phase, noise_std=0.3, class_noise_std=0.3), same)   # None means noise_std
        assert not torch.equal(loss(phase, noise_std=0.3, class_noise_std=0.0), same)
    # the unsupervised model has no class discriminator: the option changes nothing
    plain = build_model(MODEL_CASES["unsupervised_gaussian"], seed=0)
    b = Batch(x=torch.rand(8, 784))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(plain.phase_loss("discriminator", b, noise_std=0.3, generator=g()),
                       plain.phase_loss("discriminator", b, noise_std=0.3, generator=g(), class_noise_std=0.0))
