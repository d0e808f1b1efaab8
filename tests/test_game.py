"""The adversarial game made visible (aae_core.game) and the training timeline (aae_core.snapshots)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import synthetic_images, tiny_config

from aae_core import losses
from aae_core.callbacks import CheckpointCallback
from aae_core.checkpoint_meta import SNAPSHOTS_FILE
from aae_core.config import TrainConfig
from aae_core.errors import CorruptCheckpointError
from aae_core.export import export_checkpoint
from aae_core.families import build_model
from aae_core.fsutil import is_checkpoint_folder
from aae_core.game import GameStepper, discriminator_grid, generator_push, has_latent_critic
from aae_core.snapshots import MAX_SNAPSHOTS, SnapshotCallback, Timeline, load_timeline, snapshot_images
from aae_core.training import Trainer

EXTENT = (-3.0, 3.0, -2.0, 4.0)


def tiny_train_config(**changes) -> TrainConfig:
    return TrainConfig(**{**dict(epochs=1, batch_size=20, labelled_batch_size=10, eval_size=0), **changes})


def _model(kind="unsupervised", **kw):
    return build_model(tiny_config(kind, latent_dim=2, **kw), seed=0)


def _conditioned():
    return _model(prior="mixture", label_conditioned=True, n_labels=100)


@pytest.mark.parametrize("make", [_model, _conditioned, lambda: _model("semi_supervised")])
def test_d_grid_is_a_probability_per_grid_point_and_matches_d_on_those_codes(make):
    model = make()
    label = 3 if model.config.label_conditioned else None
    grid = discriminator_grid(model, EXTENT, steps=7, label=label)
    assert grid.shape == (7, 7) and grid.dtype == np.float32
    assert ((grid >= 0) & (grid <= 1)).all() and grid.std() > 0         # not constant: D sees z
    # row i is the i-th y, column j the j-th x
    z = torch.tensor([[EXTENT[0], EXTENT[3]]])
    labels = torch.tensor([label]) if label is not None else None
    with torch.no_grad():
        direct = torch.sigmoid(model.latent_critic(z, labels)).item()
    assert grid[-1, 0] == pytest.approx(direct, abs=1e-5)


def test_a_label_conditioned_d_differs_between_labels():
    model = _conditioned()
    assert not np.allclose(discriminator_grid(model, EXTENT, 9, label=0), discriminator_grid(model, EXTENT, 9, label=7))
    with pytest.raises(ValueError, match="label must be in 0..9"):
        discriminator_grid(model, EXTENT, 9, label=10)


def test_the_vae_has_no_discriminator_and_says_so():
    vae = _model("vae")
    assert not has_latent_critic(vae) and has_latent_critic(_model())
    assert discriminator_grid(vae, EXTENT, 5) is None and generator_push(vae, np.zeros((3, 2))) is None
    with pytest.raises(ValueError, match="2-D latents"):
        discriminator_grid(build_model(tiny_config(latent_dim=3), seed=0), EXTENT, 5)


@pytest.mark.parametrize("make", [_model, _conditioned])
def test_a_small_step_along_the_push_lowers_the_generator_loss(make):
    model = make()
    codes = torch.randn(40, 2, generator=torch.Generator().manual_seed(1)) * 2
    labels = torch.arange(40) % 10 if model.config.label_conditioned else None
    push = generator_push(model, codes, labels)
    assert push.shape == (40, 2)
    assert np.allclose(np.linalg.norm(push, axis=1), 1, atol=1e-5)

    def g_loss(z):
        with torch.no_grad():
            return float(losses.generator_loss(model.latent_critic(z, labels)))

    before = g_loss(codes)
    assert g_loss(codes + 1e-2 * torch.as_tensor(push)) < before
    assert g_loss(codes - 1e-2 * torch.as_tensor(push)) > before   # and against it raises it


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", ["unsupervised", "semi_supervised", "vae", "supervised"])
def test_each_phase_updates_only_the_networks_it_names(kind):
    model = _model(kind)
    data = synthetic_images(20)
    stepper = GameStepper(model, data.images, data.labels, train_config=tiny_train_config())
    original = _weights(model)
    assert stepper.phases == model.phases
    for phase in model.phases:
        before = _weights(stepper.model)
        assert stepper.next_phase == phase
        view = stepper.step()
        after = _weights(stepper.model)
        assert view.phase == phase and np.isfinite(view.loss) and view.updated
        assert view.codes.shape == (20, 2) and view.prior.shape == (20, 2)
        changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
        assert changed == set(view.updated), phase          # the named networks moved, every other bit-for-bit
        if stepper.model.latent_critic(torch.zeros(1, 2)) is None:
            assert view.code_scores is None
        else:
            assert ((view.code_scores >= 0) & (view.code_scores <= 1)).all() and view.prior_scores.shape == (20,)
    assert all(torch.equal(original[k], v) for k, v in _weights(model).items())   # the caller's model untouched
    assert stepper.next_phase == model.phases[0]


def test_the_unsupervised_phases_name_their_networks_in_order():
    data = synthetic_images(20)
    stepper = GameStepper(_model(), data.images, data.labels, train_config=tiny_train_config())
    assert [stepper.step().updated for _ in range(3)] == [["encoder", "decoder"], ["discriminator"], ["encoder"]]


def _train(tmp_path, model_config, epochs=2, **cb):
    data = synthetic_images(200)
    images, idx = snapshot_images(synthetic_images(60, seed=3), 30)
    snap = SnapshotCallback(tmp_path / "run", images, idx, early_steps=(0, 3), **cb)
    model = build_model(model_config, seed=0)
    labelled = torch.arange(200) if model.label_use(model_config.label_conditioned) != "none" else None
    trainer = Trainer(model, tiny_train_config(epochs=epochs), data, labelled=labelled,
                      callbacks=[CheckpointCallback(tmp_path / "run"), snap])
    trainer.fit()
    return trainer, snap


def test_a_run_records_its_timeline_in_its_checkpoint_folder(tmp_path):
    config = tiny_config(prior="mixture", label_conditioned=True, n_labels=200, latent_dim=2)
    trainer, snap = _train(tmp_path, config)
    run = tmp_path / "run"
    assert is_checkpoint_folder(run) and (run / SNAPSHOTS_FILE).is_file()
    t = load_timeline(run, 2)
    # steps 0 and 3 of the first epoch, then every epoch's end (10 steps each)
    assert [e["step"] for e in t.entries] == [0, 3, 10, 20] and [e["epoch"] for e in t.entries] == [0, 0, 1, 2]
    assert set(t.entries[-1]["losses"]) == {"loss_reconstruction", "loss_discriminator", "loss_generator"}
    assert t.grid_labels == list(range(10)) and t.grids[0].shape[0] == 10
    assert t.codes[0].shape == (30, 2) and t.push[0].shape == (30, 2) and len(t.labels) == 30
    assert not np.allclose(t.codes[0], t.codes[-1])                      # the codes moved
    with torch.no_grad():   # the last snapshot is the trained model's codes (float16 kept)
        from aae_core.metrics import encode_all
        z = encode_all(trainer.model, snapshot_images(synthetic_images(60, seed=3), 30)[0].to_float())
    assert np.allclose(t.codes[-1], z.numpy(), atol=2e-2)
    # exported with the model; the copy loads the same
    export_checkpoint(run, tmp_path / "shipped")
    assert load_timeline(tmp_path / "shipped", 2).entries == t.entries


def test_a_conditioned_clustering_d_is_shown_the_models_clusters_in_the_game_and_the_timeline(tmp_path):
    """5 clusters, digits 0-9: the image's digit is no cluster here, and D is shown what training shows it."""
    config = tiny_config("clustering", n_classes=5, latent_dim=2, label_conditioned=True)
    data = synthetic_images(20)
    stepper = GameStepper(build_model(config, seed=0), data.images, data.labels, train_config=tiny_train_config())
    for _ in stepper.phases:
        view = stepper.step()
        with torch.no_grad():
            own = stepper.model.classify(stepper.batch.x).argmax(dim=1)
        assert np.array_equal(view.shown, own.numpy()) and set(view.shown) <= set(range(5))
        direct = torch.sigmoid(stepper.model.latent_critic(torch.as_tensor(view.codes), own)).detach().numpy()
        assert np.allclose(view.code_scores, direct, atol=1e-6)
        assert generator_push(stepper.model, view.codes, view.shown).shape == (20, 2)
    trainer, _ = _train(tmp_path, config, epochs=1)
    t = load_timeline(tmp_path / "run", 2)
    assert t.grid_labels == list(range(5)) and t.grids[-1].shape[0] == 5 and t.push[-1].shape == (30, 2)
    assert max(t.labels) == 9                                   # the recorded digits, not shown to D


def test_a_vae_timeline_has_codes_and_no_grids(tmp_path):
    _, snap = _train(tmp_path, tiny_config("vae", latent_dim=2), epochs=1)
    t = load_timeline(tmp_path / "run", 2)
    assert t.extent is None and all(g is None for g in t.grids) and t.codes[-1].shape == (30, 2)


def test_a_resumed_run_continues_its_timeline(tmp_path):
    config = tiny_config(latent_dim=2)
    trainer, snap = _train(tmp_path, config, epochs=1)
    # resume: a new callback on the same folder keeps what was recorded up to the checkpoint
    images, idx = snapshot_images(synthetic_images(60, seed=3), 30)
    snap2 = SnapshotCallback(tmp_path / "run", images, idx, early_steps=(0, 3))
    trainer.callbacks = [CheckpointCallback(tmp_path / "run"), snap2]
    trainer.config = tiny_train_config(epochs=2)
    trainer.fit()
    assert [e["step"] for e in load_timeline(tmp_path / "run", 2).entries] == [0, 3, 10, 20]


def test_a_long_timeline_is_thinned_keeping_first_and_last():
    t = Timeline(np.zeros(2), np.arange(2), "validation", None, [None])
    for i in range(MAX_SNAPSHOTS + 10):
        t.entries.append({"epoch": i, "step": i, "losses": {}})
        t.codes.append(np.zeros((2, 2)))
        t.grids.append(None)
        t.push.append(None)
    t.keep(MAX_SNAPSHOTS)
    assert len(t) == MAX_SNAPSHOTS and t.entries[0]["step"] == 0 and t.entries[-1]["step"] == MAX_SNAPSHOTS + 9


def test_a_tampered_timeline_is_refused_with_a_clear_error(tmp_path):
    _train(tmp_path, tiny_config(latent_dim=2), epochs=1)
    run = tmp_path / "run"
    with pytest.raises(CorruptCheckpointError, match="codes of snapshot 0 are not"):
        load_timeline(run, 3)                                   # the model's latent is 3-D: shapes checked
    from safetensors.torch import load_file, save_file
    tensors = load_file(run / SNAPSHOTS_FILE)
    index = json.dumps({"format": 1, "source": "validation", "extent": [0, 1, 0, 1], "grid_labels": [None],
                        "entries": [{"epoch": 0, "step": 0, "losses": {}}]})
    tensors["grid.0"] = torch.zeros(2, 5, 5)
    save_file(tensors, run / SNAPSHOTS_FILE, metadata={"index": index})
    with pytest.raises(CorruptCheckpointError, match="grid of snapshot 0"):
        load_timeline(run, 2)
    (run / SNAPSHOTS_FILE).write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(CorruptCheckpointError):
        load_timeline(run, 2)
