"""The Trainer: each phase updates exactly the weights it owns; fitting learns; NaN stops cleanly;
stopping, seeding and resuming behave."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import synthetic_images, tiny_config
from model_cases import CASE_IDS, MODEL_CASES

import aae_core
from aae_core import metrics as M
from aae_core.callbacks import CheckpointCallback
from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import label_split
from aae_core.errors import TrainingDivergedError
from aae_core.families import Batch, build_model
from aae_core.run_setup import prepare_run
from aae_core.train_state import load_trainer_state
from aae_core.training import Callback, Trainer


def make_trainer(config: ModelConfig, train_config: TrainConfig, *, n: int = 200, seed: int = 0,
                 callbacks=(), eval_n: int = 0) -> Trainer:
    train = synthetic_images(n, seed=seed)
    # Supervised models train on their labelled images only: give them all; the others get 50.
    budget = n if config.kind == "supervised" else 50
    labelled = label_split(train.labels, budget, seed=0) if config.n_labels else None
    eval_set = synthetic_images(eval_n, seed=99) if eval_n else None
    return Trainer(build_model(config, seed=seed), train_config, train, labelled=labelled,
                   eval_set=eval_set, device="cpu", callbacks=callbacks)


def param_snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def owned_names(model, phase: str) -> set[str]:
    owned = {id(p) for m in model.phase_modules(phase) for p in m.parameters()}
    return {name for name, p in model.named_parameters() if id(p) in owned}


def the_batch(trainer: Trainer) -> Batch:
    return trainer._batch(torch.arange(trainer.config.batch_size))


PHASE_CASES = [(case, phase) for case in CASE_IDS for phase in build_model(MODEL_CASES[case]).phases]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("case,phase", PHASE_CASES, ids=[f"{c}-{p}" for c, p in PHASE_CASES])
def test_a_phase_changes_the_weights_it_owns_and_no_others(case, phase, precision, tiny_train_config):
    trainer = make_trainer(MODEL_CASES[case], dataclasses.replace(tiny_train_config, precision=precision))
    assert trainer.precision == precision
    model = trainer.model
    owned = owned_names(model, phase)
    assert owned
    batch = the_batch(trainer)
    model.zero_grad(set_to_none=True)
    before = param_snapshot(model)
    loss = trainer.run_phase(phase, batch)
    after = param_snapshot(model)
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == owned, f"{phase}: changed {sorted(changed ^ owned)} unexpectedly"
    # no gradient is computed for the weights the phase does not own (e.g. D's in the generator phase)
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad <= owned, f"{phase}: gradients for {sorted(with_grad - owned)}"


def test_phase_ownership_follows_the_paper():
    aae = build_model(MODEL_CASES["unsupervised_gaussian"])
    assert aae.phase_modules("reconstruction") == [aae.encoder, aae.decoder]
    assert aae.phase_modules("discriminator") == [aae.discriminator]
    assert aae.phase_modules("generator") == [aae.encoder]
    ssl = build_model(MODEL_CASES["semi_supervised"])
    assert ssl.phase_modules("discriminator") == [ssl.discriminator_z, ssl.discriminator_y]
    assert ssl.phase_modules("supervised") == [ssl.encoder]
    vae = build_model(MODEL_CASES["vae"])
    assert vae.phase_modules("elbo") == [vae.encoder, vae.decoder]


def test_unknown_phase_is_a_value_error(tiny_train_config):
    trainer = make_trainer(MODEL_CASES["semi_supervised"], tiny_train_config)
    with pytest.raises(ValueError, match="unknown phase 'dance'"):
        trainer.model.phase_loss("dance", the_batch(trainer))


def test_semi_supervised_batches_carry_a_labelled_batch_from_the_split(tiny_train_config):
    trainer = make_trainer(MODEL_CASES["semi_supervised"], tiny_train_config)
    batch = the_batch(trainer)
    assert batch.x.shape == (20, 784) and batch.y is None
    assert batch.x_labelled.shape == (10, 784) and batch.y_labelled.shape == (10,)
    split = set(label_split(synthetic_images(200).labels, 50, seed=0).tolist())
    # every labelled image comes from the split, with its true label
    for x, y in zip(batch.x_labelled, batch.y_labelled, strict=True):
        matches = [i for i in split if torch.equal(trainer.images[i].float() / 255, x)]
        assert matches and all(int(trainer.labels[i]) == int(y) for i in matches)


def test_label_conditioned_batches_hide_unlabelled_labels(tiny_train_config):
    trainer = make_trainer(MODEL_CASES["label_conditioned_mixture"], tiny_train_config)
    split = label_split(synthetic_images(200).labels, 50, seed=0)
    assert int((trainer.labels >= 0).sum()) == 50
    assert torch.equal(torch.nonzero(trainer.labels >= 0).squeeze(1), split)


def test_models_that_learn_from_labels_refuse_to_train_without_them(tiny_train_config):
    for case in ("supervised", "semi_supervised", "label_conditioned_mixture"):
        with pytest.raises(ValueError, match="needs labelled indices"):
            Trainer(build_model(MODEL_CASES[case]), tiny_train_config, synthetic_images(40), device="cpu")


@pytest.mark.parametrize("case", ["unsupervised_gaussian", "supervised", "semi_supervised", "clustering", "vae"])
def test_a_short_fit_reduces_the_reconstruction_error(case):
    config = dataclasses.replace(MODEL_CASES[case], hidden_dim=64)
    trainer = make_trainer(config, TrainConfig(epochs=4, batch_size=25, labelled_batch_size=10, eval_size=0),
                           n=400)
    held_out = synthetic_images(200, seed=7)
    x = held_out.to_float()
    before = M.reconstruction_error(trainer.model, x, held_out.labels)
    assert trainer.fit() == "finished"
    after = M.reconstruction_error(trainer.model, x, held_out.labels)
    assert after["bce"] < 0.8 * before["bce"], (before, after)
    assert after["mse"] < 0.7 * before["mse"], (before, after)
    assert trainer.state.epoch == 4 and trainer.state.step == 4 * 16
    losses = [h["loss_reconstruction" if case != "vae" else "loss_elbo"] for h in trainer.state.history]
    assert losses[-1] < losses[0]
    # fit() hands back a model whose every weight can be trained again
    assert all(p.requires_grad for p in trainer.model.parameters())


def test_semi_supervised_fit_learns_the_classes_and_reports_eval_metrics():
    config = dataclasses.replace(MODEL_CASES["semi_supervised"], hidden_dim=64)
    trainer = make_trainer(config, TrainConfig(epochs=5, batch_size=25, labelled_batch_size=20, eval_size=0),
                           n=400, eval_n=200)
    trainer.fit()
    last = trainer.state.history[-1]
    assert {"epoch", "step", "seconds", "loss_reconstruction", "loss_discriminator", "loss_generator",
            "loss_supervised", "eval_mse", "eval_error"} <= set(last)
    # the bars of synthetic_images are easy to separate (seeds 0-4 all reach 0.0 by epoch 5): chance is 0.9
    assert last["eval_error"] < 0.2, last


class NaNIn:
    """Wraps model.phase_loss so that `phase` returns NaN (or inf) from the first step on."""

    def __init__(self, model, phase: str, value: float) -> None:
        self.orig, self.phase, self.value = model.phase_loss, phase, value

    def __call__(self, phase, batch, **kwargs):
        loss = self.orig(phase, batch, **kwargs)
        return loss * self.value if phase == self.phase else loss


def folder_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, value, monkeypatch):
    out = tmp_path / "run"
    config = MODEL_CASES["unsupervised_gaussian"]
    train_config = TrainConfig(epochs=1, batch_size=20, eval_size=0)
    good = make_trainer(config, train_config, callbacks=[CheckpointCallback(out)])
    good.fit()
    saved = folder_bytes(out)
    assert {"config.json", "model.safetensors", "optimizer.safetensors"} <= set(saved)

    class Ends(Callback):
        reasons: list[str] = []
        epochs: list[int] = []

        def on_epoch_end(self, trainer, metrics):
            self.epochs.append(trainer.state.epoch)

        def on_train_end(self, trainer, reason):
            self.reasons.append(reason)

    ends = Ends()
    # Resume the same run for one more epoch, with the generator loss going bad.
    trainer = make_trainer(config, dataclasses.replace(train_config, epochs=2),
                           callbacks=[CheckpointCallback(out), ends])
    load_trainer_state(out, trainer)
    trainer.model.load_state_dict(aae_core.load(out).state_dict())
    monkeypatch.setattr(trainer.model, "phase_loss", NaNIn(trainer.model, "generator", value))
    # NaN weights spread to every loss within the epoch; the message names the bad losses and the epoch.
    with pytest.raises(TrainingDivergedError, match=r"generator loss became NaN/inf at epoch 2") as info:
        trainer.fit()
    assert "last checkpoint is intact" in str(info.value)
    assert ends.epochs == [] and ends.reasons == []      # no epoch end, no train end: nothing saved
    assert folder_bytes(out) == saved                     # byte for byte the last good checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]   # no temp folders left behind
    assert trainer.state.epoch == 1


def test_a_nan_is_caught_within_the_epoch_not_only_at_its_end(monkeypatch):
    from aae_core import training

    monkeypatch.setattr(training, "NAN_CHECK_EVERY", 2)
    steps = []

    class Count(Callback):
        def on_step_end(self, trainer):
            steps.append(trainer.state.step)

    trainer = make_trainer(MODEL_CASES["vae"], TrainConfig(epochs=1, batch_size=10, eval_size=0),
                           callbacks=[Count()])
    monkeypatch.setattr(trainer.model, "phase_loss", NaNIn(trainer.model, "elbo", float("nan")))
    with pytest.raises(TrainingDivergedError, match="elbo loss"):
        trainer.fit()
    assert steps == [1]   # raised at the check after step 2, of 20 steps in the epoch


def test_a_huge_learning_rate_diverges_with_a_clear_error():
    config = tiny_config("unsupervised", latent_dim=2)
    trainer = make_trainer(config, TrainConfig(epochs=3, batch_size=20, eval_size=0, lr_reconstruction=1e30,
                                               lr_discriminator=1e30, lr_generator=1e30, grad_clip=0.0))
    with pytest.raises(TrainingDivergedError, match="Try lower learning rates"):
        trainer.fit()


def test_request_stop_ends_the_run_after_the_current_batch_and_saves(tmp_path):
    out = tmp_path / "run"
    reasons = []

    class StopAt3(Callback):
        def on_step_end(self, trainer):
            if trainer.state.step == 3:
                trainer.request_stop()

        def on_train_end(self, trainer, reason):
            reasons.append(reason)

    trainer = make_trainer(MODEL_CASES["semi_supervised"], TrainConfig(epochs=5, batch_size=20, eval_size=0),
                           callbacks=[StopAt3(), CheckpointCallback(out)])
    assert trainer.fit() == "stopped"
    assert reasons == ["stopped"]
    assert (trainer.state.epoch, trainer.state.step) == (0, 3)
    meta = aae_core.checkpoint.read_config(out)
    assert meta["progress"] == {"epoch": 0, "step": 3}
    saved = aae_core.load(out)
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in saved.state_dict().items())
    # A later fit() runs on instead of stopping at once (the stop request was consumed).
    assert trainer.fit() == "finished"
    assert (trainer.state.epoch, trainer.state.step) == (5, 3 + 5 * 10)
    assert reasons == ["stopped", "finished"]


def state_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ: {different}"


@pytest.mark.parametrize("case", ["semi_supervised", "label_conditioned_mixture", "vae"])
def test_same_seed_same_weights(case):
    train_config = TrainConfig(epochs=2, batch_size=20, labelled_batch_size=10, eval_size=0, seed=5)
    runs = [make_trainer(MODEL_CASES[case], train_config) for _ in range(2)]
    for t in runs:
        t.fit()
    assert_same_weights(state_of(runs[0].model), state_of(runs[1].model))
    other = make_trainer(MODEL_CASES[case], dataclasses.replace(train_config, seed=6))
    other.fit()
    a, b = state_of(runs[0].model), state_of(other.model)
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("case", ["semi_supervised", "label_conditioned_swiss_roll", "clustering"])
def test_resuming_gives_the_weights_of_an_uninterrupted_run(case, tmp_path, fake_mnist_dir):
    config = MODEL_CASES[case]
    tc = TrainConfig(epochs=2, batch_size=50, labelled_batch_size=20, eval_size=50, seed=11)
    whole = prepare_run(config, tc, out=tmp_path / "whole", data_dir=fake_mnist_dir, device="cpu")
    assert whole.fit() == "finished"

    first = prepare_run(config, dataclasses.replace(tc, epochs=1), out=tmp_path / "split",
                        data_dir=fake_mnist_dir, device="cpu")
    first.fit()
    assert aae_core.checkpoint.read_config(tmp_path / "split")["progress"]["epoch"] == 1
    rest = prepare_run(config, tc, out=tmp_path / "split", resume=True, data_dir=fake_mnist_dir, device="cpu")
    assert (rest.state.epoch, rest.state.step) == (1, first.state.step)
    rest.fit()

    assert (rest.state.epoch, rest.state.step) == (whole.state.epoch, whole.state.step) == (2, 22)  # 50 held out
    assert_same_weights(state_of(whole.model), state_of(rest.model))
    assert_same_weights(aae_core.load(tmp_path / "whole").state_dict(),
                        aae_core.load(tmp_path / "split").state_dict())
    for phase in whole.optimizers:
        sa, sb = whole.optimizers[phase].state_dict()["state"], rest.optimizers[phase].state_dict()["state"]
        assert sa.keys() == sb.keys()
        for idx in sa:
            for key in sa[idx]:
                assert torch.equal(torch.as_tensor(sa[idx][key]), torch.as_tensor(sb[idx][key])), (phase, idx, key)
    assert [h["loss_reconstruction"] for h in whole.state.history] == \
           [h["loss_reconstruction"] for h in rest.state.history]


def test_resume_without_a_checkpoint_starts_fresh(tmp_path, fake_mnist_dir):
    tc = TrainConfig(epochs=1, batch_size=50, eval_size=0, seed=2)
    trainer = prepare_run(MODEL_CASES["vae"], tc, out=tmp_path / "new", resume=True, data_dir=fake_mnist_dir,
                          device="cpu")
    assert trainer.state.epoch == 0
    fresh = build_model(MODEL_CASES["vae"], seed=2)
    assert_same_weights(state_of(trainer.model), state_of(fresh))


def test_pick_device():
    from aae_core.training import device_name, pick_device

    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")).type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda, cuda:N or mps; got 'gpu0'"):
        pick_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            pick_device("cuda")
    assert device_name(torch.device("cpu")).startswith("CPU (")


# --- the fast path: precision, fused Adam, threads ------------------------------------------------

def test_precision_is_validated_and_defaults_to_auto():
    assert TrainConfig().precision == "auto"
    for value in ("auto", "fp32", "bf16"):
        assert TrainConfig.from_dict(TrainConfig(precision=value).to_dict()).precision == value
    for bad in ("fp16", "BF16", "", None):
        with pytest.raises(ValueError, match=r"precision must be one of auto, fp32, bf16; got"):
            TrainConfig(precision=bad)
    # a training dict saved before the option existed loads as "auto"
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "precision"}
    assert TrainConfig.from_dict(old).precision == "auto"


def test_auto_precision_follows_the_cpu(monkeypatch):
    from aae_core import training

    cpu = torch.device("cpu")
    assert training.resolve_precision("fp32", cpu) == "fp32"
    assert training.resolve_precision("bf16", cpu) == "bf16"
    for has_bf16, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(training, "cpu_has_bf16", lambda v=has_bf16: v)
        assert training.resolve_precision("auto", cpu) == expected
        trainer = make_trainer(MODEL_CASES["vae"], TrainConfig(epochs=1, batch_size=20, eval_size=0))
        assert trainer.precision == expected and trainer.state_dict()["precision"] == expected
    assert training.resolve_precision("auto", torch.device("mps")) == "fp32"


@pytest.mark.parametrize("case", CASE_IDS)
def test_losses_under_bf16_autocast_are_float32_while_the_layers_run_in_bf16(case, tiny_train_config):
    trainer = make_trainer(MODEL_CASES[case], dataclasses.replace(tiny_train_config, precision="bf16"))
    batch = the_batch(trainer)
    with trainer.autocast():
        assert trainer.model.encoder(batch.x).dtype == torch.bfloat16   # autocast is really on
        for phase in trainer.model.phases:
            loss = trainer.model.phase_loss(phase, batch, noise_std=0.3, generator=trainer.generator)
            assert loss.dtype == torch.float32, phase
    fp32 = make_trainer(MODEL_CASES[case], dataclasses.replace(tiny_train_config, precision="fp32"))
    with fp32.autocast():
        assert fp32.model.encoder(batch.x).dtype == torch.float32


def test_bf16_losses_stay_close_to_fp32():
    """The same weights and batch give nearly the same loss in both precisions (bf16 has 8 mantissa bits;
    the losses are reduced in float32, so a summed 784-pixel BCE is not thrown off)."""
    config = dataclasses.replace(MODEL_CASES["semi_supervised"], hidden_dim=64)
    tc = TrainConfig(batch_size=50, labelled_batch_size=20, eval_size=0)
    a = make_trainer(config, dataclasses.replace(tc, precision="fp32"))
    b = make_trainer(config, dataclasses.replace(tc, precision="bf16"))
    batch = the_batch(a)
    for phase in a.model.phases:
        losses = []
        for t in (a, b):
            with torch.no_grad(), t.autocast():
                losses.append(float(t.model.phase_loss(phase, batch, generator=torch.Generator().manual_seed(0))))
        assert losses[1] == pytest.approx(losses[0], rel=0.02), phase


def test_a_short_bf16_fit_learns():
    config = dataclasses.replace(MODEL_CASES["semi_supervised"], hidden_dim=64)
    trainer = make_trainer(config, TrainConfig(epochs=5, batch_size=25, labelled_batch_size=20, eval_size=0,
                                               precision="bf16"), n=400, eval_n=200)
    x = synthetic_images(200, seed=7).to_float()
    before = M.reconstruction_error(trainer.model, x)["bce"]
    assert trainer.fit() == "finished"
    assert M.reconstruction_error(trainer.model, x)["bce"] < 0.8 * before
    assert trainer.state.history[-1]["eval_error"] < 0.2
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())   # weights stay float32


def test_optimizers_are_fused_on_cpu_and_stay_fused_through_save_and_resume(tmp_path):
    from aae_core.checkpoint import save

    tc = TrainConfig(epochs=1, batch_size=20, labelled_batch_size=10, eval_size=0)
    trainer = make_trainer(MODEL_CASES["semi_supervised"], tc)
    assert all(g["fused"] for opt in trainer.optimizers.values() for g in opt.param_groups)
    batch = the_batch(trainer)
    for _ in range(3):
        trainer.train_step(batch)
    save(trainer.model, tmp_path / "run", trainer=trainer)
    assert aae_core.checkpoint.read_config(tmp_path / "run")["precision"] == trainer.precision

    resumed = make_trainer(MODEL_CASES["semi_supervised"], tc)
    load_trainer_state(tmp_path / "run", resumed)
    for phase, opt in trainer.optimizers.items():
        got = resumed.optimizers[phase]
        assert all(g["fused"] for g in got.param_groups)
        sa, sb = opt.state_dict()["state"], got.state_dict()["state"]
        assert sa.keys() == sb.keys() and sa
        for idx in sa:
            for key in sa[idx]:
                assert torch.equal(torch.as_tensor(sa[idx][key]), torch.as_tensor(sb[idx][key])), (phase, idx, key)
    # the resumed optimizers step on from there: same weights in, same weights out
    resumed.model.load_state_dict(trainer.model.state_dict())
    resumed.generator.set_state(trainer.generator.get_state())
    trainer.train_step(batch)
    resumed.train_step(batch)
    assert_same_weights(state_of(trainer.model), state_of(resumed.model))


def test_a_checkpoint_of_unfused_optimizers_resumes_fused():
    """Checkpoints written before fused Adam carry "fused": None in their param groups."""
    tc = TrainConfig(epochs=1, batch_size=20, eval_size=0)
    trainer = make_trainer(MODEL_CASES["unsupervised_gaussian"], tc)
    trainer.train_step(the_batch(trainer))
    state = trainer.state_dict()
    for opt_state in state["optimizers"].values():
        for g in opt_state["param_groups"]:
            g["fused"], g["foreach"] = None, None
    other = make_trainer(MODEL_CASES["unsupervised_gaussian"], tc)
    other.load_state_dict(state)
    assert all(g["fused"] for opt in other.optimizers.values() for g in opt.param_groups)
    other.train_step(the_batch(other))


def test_a_trainer_trains_a_model_loaded_for_queries(tmp_path):
    """checkpoint.load() switches requires_grad off; a Trainer must switch it back on for every weight."""
    trainer = make_trainer(MODEL_CASES["unsupervised_gaussian"], TrainConfig(epochs=1, batch_size=20, eval_size=0))
    aae_core.save(trainer.model, tmp_path / "m")
    loaded = aae_core.load(tmp_path / "m").train()
    again = Trainer(loaded, trainer.config, synthetic_images(200), device="cpu")
    before = state_of(again.model)
    again.train_step(the_batch(again))
    assert all(not torch.equal(before[k], v) for k, v in state_of(again.model).items())


@pytest.mark.parametrize("cores,load,expected", [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.2, 1),
                                                 (2, 7.0, 1), (16, 3.2, 13)])
def test_pick_threads_leaves_busy_cores_alone(cores, load, expected, monkeypatch):
    from aae_core import training

    monkeypatch.setattr(training.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(training.os, "getloadavg", lambda: (load, load, load))
    assert training.pick_threads() == expected


def test_adam_falls_back_where_fused_kernels_are_missing(monkeypatch):
    from aae_core import training

    params = [torch.nn.Parameter(torch.zeros(3))]
    assert training._adam(params, 1e-3, (0.9, 0.999)).param_groups[0]["fused"] is True
    monkeypatch.setattr(training, "_fused_devices", lambda: ["cuda"])     # torch's answer on a GPU-only build
    opt = training._adam(params, 1e-3, (0.9, 0.999))
    assert not opt.param_groups[0]["fused"]
    monkeypatch.setattr(training, "_fused_devices", None)                 # a torch without the function
    assert not training._adam(params, 1e-3, (0.9, 0.999)).param_groups[0]["fused"]
    params[0].grad = torch.ones(3)
    opt.step()
    assert not torch.equal(params[0], torch.zeros(3))
