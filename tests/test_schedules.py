"""Training schedules (aae_core.config.Schedule): values at the start, middle and end of training, their
config.json form, the command line's START:SHAPE:FINAL, and the Trainer moving the optimizer's rate and the
noises step by step."""

from __future__ import annotations

import argparse
import copy
import json
import math

import pytest
from conftest import synthetic_images, tiny_config

from aae_core import train as train_cli
from aae_core.config import Schedule, TrainConfig, parse_scheduled
from aae_core.families import build_model
from aae_core.recipes import resolve
from aae_core.training import Callback, Trainer


@pytest.mark.parametrize("shape, start, final, expected", [
    ("constant", 0.3, 0.0, (0.3, 0.3, 0.3)),
    ("linear", 0.3, 0.0, (0.3, 0.15, 0.0)),
    ("linear", 1e-4, 1e-3, (1e-4, 5.5e-4, 1e-3)),        # a schedule may rise too
    ("cosine", 0.4, 0.0, (0.4, 0.2, 0.0)),
])
def test_a_schedule_starts_at_the_value_passes_the_middle_and_ends_at_the_final(shape, start, final, expected):
    sched = Schedule(shape, final)
    assert [sched.at(start, p) for p in (0.0, 0.5, 1.0)] == pytest.approx(expected)
    assert sched.at(start, 2.0) == pytest.approx(expected[2])          # past the end: stays at the end


def test_cosine_is_flat_at_both_ends_and_linear_is_not():
    cos, lin = Schedule("cosine", 0.0), Schedule("linear", 0.0)
    assert cos.at(1.0, 0.1) == pytest.approx(0.5 * (1 + math.cos(0.1 * math.pi)))
    assert 1.0 - cos.at(1.0, 0.1) < 1.0 - lin.at(1.0, 0.1)            # decays slower at first


def test_a_config_json_without_schedules_reads_as_constant_and_schedules_round_trip():
    old = TrainConfig().to_dict()
    del old["schedules"]                                               # as written before schedules existed
    loaded = TrainConfig.from_dict(json.loads(json.dumps(old)))
    assert dict(loaded.schedules) == {} and loaded.at(0.7) == loaded
    tc = TrainConfig(disc_input_noise=0.3, schedules={"class_code_noise": Schedule("linear", 0.05)})
    again = TrainConfig.from_dict(json.loads(json.dumps(tc.to_dict())))
    assert again == tc and again.schedules["class_code_noise"] == Schedule("linear", 0.05)
    assert copy.deepcopy(tc) == tc and hash(copy.deepcopy(tc)) == hash(tc)   # copied / sent to a worker process
    assert again.at(1.0).class_code_noise == pytest.approx(0.05)
    assert again.at(0.0).class_code_noise == pytest.approx(0.3)       # None starts from D's input noise


@pytest.mark.parametrize("schedules, match", [
    ({"epochs": Schedule("linear", 1.0)}, "epochs cannot follow a schedule"),
    ({"input_noise": {"shape": "exp", "final": 0.0}}, "schedule shape must be one of"),
    ({"input_noise": {"shape": "linear", "final": -1.0}}, "schedule final value must be >= 0"),
    ({"input_noise": {"shape": "linear", "end": 0.0}}, "unknown Schedule fields: end"),
    ({"lr_generator": Schedule("linear", 0.0)}, "must end above 0"),
])
def test_bad_schedules_are_refused_with_what_is_allowed(schedules, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(schedules=schedules)


def test_the_command_line_spells_a_schedule_start_shape_final():
    assert parse_scheduled("0.3") == (0.3, None)
    assert parse_scheduled("5e-4:cosine:5e-5") == (5e-4, Schedule("cosine", 5e-5))
    for bad in ("0.3:linear", "0.3:exp:0", "a:linear:0"):
        with pytest.raises(ValueError, match="START:SHAPE:FINAL|shape must be one of"):
            parse_scheduled(bad)
    args = train_cli.build_parser().parse_args(["--out", "x", "--recipe", "clustering_16",
                                                "--class-noise", "0.3:linear:0", "--lr-gen", "1e-3"])
    _, _, train = train_cli.configs_from_args(args)
    assert train.class_code_noise == 0.3 and train.lr_generator == 1e-3
    assert dict(train.schedules) == {"class_code_noise": Schedule("linear", 0.0)}
    assert "START:SHAPE:FINAL" in train_cli.build_parser().format_help()


def test_a_resume_with_another_schedule_is_refused_and_the_same_one_accepted(tmp_path, monkeypatch):
    saved = resolve("clustering_16", class_code_noise=0.3, schedules={"class_code_noise": Schedule("linear", 0.0)})
    meta = {"model": saved.model, "training": saved.train.to_dict(), "recipe": "clustering_16"}
    monkeypatch.setattr(train_cli, "read_config", lambda out: meta)

    def args(*argv: str) -> argparse.Namespace:
        return train_cli.build_parser().parse_args(["--out", str(tmp_path), "--resume", *argv])

    assert train_cli.resumed_configs(args("--class-noise", "0.3:linear:0"))[2].schedules == saved.train.schedules
    with pytest.raises(ValueError, match=r"--class-noise 0.3:cosine:0 \(saved: 0.3:linear:0\)"):
        train_cli.resumed_configs(args("--class-noise", "0.3:cosine:0"))


class _Record(Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_step_end(self, trainer: Trainer) -> None:
        self.lrs.append(trainer.optimizers["generator"].param_groups[0]["lr"])


def test_the_trainer_moves_the_optimizer_rate_and_the_noises_step_by_step():
    data = synthetic_images(100)
    schedules = {"lr_generator": Schedule("linear", 1e-4), "disc_input_noise": Schedule("cosine", 0.0),
                 "input_noise": Schedule("linear", 0.5), "class_code_noise": Schedule("linear", 0.0)}
    tc = TrainConfig(epochs=2, batch_size=20, eval_size=0, lr_generator=1e-3, disc_input_noise=0.2,
                     input_noise=0.1, class_code_noise=0.4, schedules=schedules)
    model = build_model(tiny_config("clustering", n_classes=4, latent_dim=2), seed=0)
    seen: list[tuple[float, float]] = []
    phase_loss = model.phase_loss

    def spy(phase, batch, *, noise_std, generator, class_noise_std):
        if phase == "discriminator":
            seen.append((noise_std, class_noise_std))
        return phase_loss(phase, batch, noise_std=noise_std, generator=generator, class_noise_std=class_noise_std)

    model.phase_loss = spy
    record = _Record()
    trainer = Trainer(model, tc, data, device="cpu", callbacks=[record])
    noises: list[float] = []
    batch = trainer._batch
    trainer._batch = lambda idx: (noises.append(trainer.now.input_noise), batch(idx))[1]
    trainer.fit()
    steps = 2 * trainer.steps_per_epoch                                 # 10 steps: progress k / 9
    assert len(record.lrs) == len(seen) == len(noises) == steps
    assert record.lrs[0] == pytest.approx(1e-3) and record.lrs[-1] == pytest.approx(1e-4)
    assert record.lrs == pytest.approx([1e-3 + (1e-4 - 1e-3) * k / (steps - 1) for k in range(steps)])
    assert seen[0] == pytest.approx((0.2, 0.4)) and seen[-1] == pytest.approx((0.0, 0.0))
    assert [d for d, _ in seen] == sorted((d for d, _ in seen), reverse=True)
    assert noises[0] == pytest.approx(0.1) and noises[-1] == pytest.approx(0.5)


def test_a_run_without_schedules_keeps_its_values_and_its_step_decay():
    tc = TrainConfig(epochs=2, batch_size=20, eval_size=0, lr_generator=1e-3, lr_decay_epochs=1)
    record = _Record()
    trainer = Trainer(build_model(tiny_config(), seed=0), tc, synthetic_images(100), device="cpu",
                      callbacks=[record])
    trainer.fit()
    per_epoch = trainer.steps_per_epoch
    assert record.lrs == pytest.approx([1e-3] * per_epoch + [1e-4] * per_epoch)
    assert trainer.now is tc
