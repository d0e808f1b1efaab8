"""Resuming checks the saved optimizer state against the optimizers it is loaded into, before any of it
is used: a state from another model, or hand-edited, is one CheckpointError naming the file and the entry
(never a crash in the fused Adam step, never training on with another model's moments)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import synthetic_images, tiny_config
from safetensors.torch import load_file, save_file

import aae_core
from aae_core.config import TrainConfig
from aae_core.errors import CheckpointError
from aae_core.families import build_model
from aae_core.train_state import load_trainer_state
from aae_core.training import Trainer

TC = TrainConfig(epochs=1, batch_size=20, eval_size=0)


def trainer_for(config, train) -> Trainer:
    labelled = aae_core.label_split(train.labels, 20) if config.n_labels else None
    tc = TrainConfig(epochs=1, batch_size=20, labelled_batch_size=10, eval_size=0) if labelled is not None else TC
    return Trainer(build_model(config, seed=0), tc, train, labelled=labelled, device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    train = synthetic_images(60)
    trainer = trainer_for(tiny_config(), train)
    trainer.fit()
    return aae_core.save(trainer.model, tmp_path_factory.mktemp("state") / "run", trainer=trainer)


@pytest.fixture
def run(trained, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    return out


def edit_state(run: Path, edit) -> None:
    """Rewrite optimizer.safetensors through edit(tensors, groups)."""
    file = run / "optimizer.safetensors"
    with open(file, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        groups = json.loads(json.loads(fh.read(n))["__metadata__"]["param_groups"])
    tensors = load_file(file)
    edit(tensors, groups)
    save_file(tensors, str(file), metadata={"param_groups": json.dumps(groups)})


def refused(run: Path, trainer: Trainer, *named: str) -> str:
    before = {k: {i: {n: v.clone() for n, v in s.items()} for i, s in opt.state.items()}
              for k, opt in trainer.optimizers.items()}
    with pytest.raises(CheckpointError) as info:
        load_trainer_state(run, trainer)
    line = str(info.value)
    assert "\n" not in line and "optimizer.safetensors" in line, line
    for part in named:
        assert part in line, line
    after = {k: dict(opt.state) for k, opt in trainer.optimizers.items()}
    assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in before.items()}  # nothing loaded
    return line


def test_the_saved_state_loads_back_into_the_same_model(run):
    trainer = trainer_for(tiny_config(), synthetic_images(60))
    load_trainer_state(run, trainer)
    assert trainer.state.step == 3 and all(len(opt.state) for opt in trainer.optimizers.values())


def test_a_state_from_a_model_of_another_hidden_size_is_refused(run):
    other = trainer_for(tiny_config(hidden_dim=48), synthetic_images(60))
    refused(run, other, "reconstruction.0.exp_avg", "[32, 784]", "[48, 784]")


def test_a_state_from_another_kind_is_refused(run):
    other = trainer_for(tiny_config("semi_supervised", latent_dim=4), synthetic_images(60))
    refused(run, other, "phase")


def test_a_swapped_shape_is_refused(run):
    def swap(tensors, groups):
        tensors["discriminator.1.exp_avg"] = tensors["discriminator.1.exp_avg"][:5].clone()
    edit_state(run, swap)
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "discriminator.1.exp_avg", "[5]")


def test_a_missing_entry_is_refused(run):
    edit_state(run, lambda tensors, groups: tensors.pop("generator.2.exp_avg_sq"))
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator.2", "exp_avg_sq")


def test_a_missing_parameter_state_is_refused(run):
    def drop(tensors, groups):
        for key in [k for k in tensors if k.startswith("generator.2.")]:
            del tensors[key]
    edit_state(run, drop)
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator", "2")


def test_an_entry_for_a_parameter_that_does_not_exist_is_refused(run):
    def add(tensors, groups):
        tensors["generator.99.exp_avg"] = torch.zeros(3)
    edit_state(run, add)
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator.99.exp_avg")


def test_a_non_scalar_or_integer_step_is_refused(run):
    edit_state(run, lambda tensors, groups: tensors.update({"reconstruction.0.step": torch.ones(2)}))
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "reconstruction.0.step")


def test_param_group_counts_are_checked(run):
    def two_groups(tensors, groups):
        groups["generator"].append(dict(groups["generator"][0], params=[]))
    edit_state(run, two_groups)
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator", "group")


def test_params_per_group_are_checked(run):
    edit_state(run, lambda tensors, groups: groups["generator"][0]["params"].pop())
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator", "param")


def test_a_non_numeric_hyperparameter_is_refused(run):
    edit_state(run, lambda tensors, groups: groups["generator"][0].update(lr="fast"))
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator", "lr")


def test_empty_param_groups_are_refused(run):
    edit_state(run, lambda tensors, groups: groups.update(generator=[]))
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "generator")


def test_a_wrong_rng_state_is_refused(run):
    edit_state(run, lambda tensors, groups: tensors.update(__rng__=torch.zeros(3, dtype=torch.uint8)))
    refused(run, trainer_for(tiny_config(), synthetic_images(60)), "__rng__")
