"""Families own their behaviour: the registry, the recipe book, and a family defined here alone that trains,
saves, loads and evaluates without any other module knowing it exists."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import torch
from conftest import every_page_runs, start_app, synthetic_images
from torch import nn

import aae_core
from aae_core import families, losses
from aae_core import metric_schema as S
from aae_core import train as train_cli
from aae_core.config import IMAGE_SIZE, ModelConfig, TrainConfig
from aae_core.evaluate import evaluate_checkpoint
from aae_core.families import AAEModel, ClassCode, get_family, register
from aae_core.families.base import flatten_images
from aae_core.networks import mlp
from aae_core.recipes import RECIPES, default_recipe, get_recipe
from aae_core.training import Trainer
from explorer import family_text

REPO = Path(__file__).resolve().parents[1]


class ToyAutoencoder(AAEModel):
    """A plain autoencoder with a 1-layer encoder: no discriminator, one phase."""

    kind = "toy"
    phases = ("reconstruction",)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.encoder = nn.Linear(IMAGE_SIZE, config.latent_dim)
        self.decoder = mlp(config.latent_dim, config.hidden_dim, 1, IMAGE_SIZE)

    def encode(self, x):
        return self.encoder(flatten_images(x))

    def _decode_logits(self, z, y=None):
        return self.decoder(self._check_z(z))

    def _reconstruct_logits(self, x, y=None):
        return self.decoder(self.encode(x))

    def phase_modules(self, phase):
        return [self.encoder, self.decoder]

    def phase_loss(self, phase, batch, **kwargs):
        return losses.reconstruction_bce(self.reconstruct(batch.inputs, logits=True), batch.x)

    def metrics(self, x, y, *, per_epoch=False, judge=None):
        return {} if per_epoch else {"toy_code_norm": float(self.encode(x).norm(dim=1).mean())}


@pytest.fixture
def toy_family():
    register(ToyAutoencoder)
    yield ToyAutoencoder
    families.FAMILIES.pop("toy")


def test_every_family_is_registered_under_its_kind_and_knows_what_it_is():
    assert set(families.FAMILIES) >= {"unsupervised", "supervised", "semi_supervised", "clustering", "vae"}
    for kind, family in families.FAMILIES.items():
        assert family.kind == kind
        words = family_text.of(kind)        # how the app shows it: every shipped family has its words
        assert words.title and words.summary and words.explanation and words.map_note, kind
        assert family.phases, kind
        assert isinstance(family.classes, ClassCode) and family.classes.noun in (None, "class", "cluster")
        assert bool(family.classes) or not (family.classes.predicted or family.classes.means_label)   # one value
        assert get_family(kind) is family
    assert get_family("clustering").classes == ClassCode("cluster", predicted=True)
    assert get_family("semi_supervised").classes == ClassCode("class", predicted=True, means_label=True)
    assert get_family("supervised").classes == ClassCode("class", predicted=False, means_label=True)
    assert not get_family("vae").classes and not get_family("alae").classes and get_family("vae").classes.noun is None
    with pytest.raises(ValueError, match="kind must be one of"):
        get_family("gan")


def test_a_family_registered_in_a_test_file_alone_trains_saves_loads_and_evaluates(toy_family, tmp_path,
                                                                                   fake_mnist_dir):
    config = ModelConfig(kind="toy", latent_dim=3, hidden_dim=16)
    assert config.family is ToyAutoencoder and not config.classes and not config.classes.predicted
    assert aae_core.ModelConfig(kind="toy").family is ToyAutoencoder
    with pytest.raises(ValueError, match="uses no labels"):
        ModelConfig(kind="toy", n_labels=10)

    model = families.build_model(config, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = synthetic_images(100)
    trainer = Trainer(model, TrainConfig(epochs=2, batch_size=20, eval_size=0), data, device="cpu")
    assert trainer.fit() == "finished"
    assert [h["epoch"] for h in trainer.state.history] == [1, 2]
    assert "loss_reconstruction" in trainer.state.history[-1]
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())

    path = aae_core.save(model, tmp_path / "toy", trainer=trainer)
    loaded = aae_core.load(path)
    assert type(loaded) is ToyAutoencoder
    x = data.to_float()[:5]
    assert torch.equal(loaded.encode(x), model.eval().encode(x))

    metrics = evaluate_checkpoint(path, data_dir=fake_mnist_dir, device="cpu")
    assert metrics["kind"] == "toy" and metrics["toy_code_norm"] > 0
    assert "classification_error" not in metrics and "class_sweep" not in metrics
    assert json.loads((path / "metrics.json").read_text())["toy_code_norm"] == metrics["toy_code_norm"]


def test_no_string_switches_on_the_kind_outside_the_families_and_the_config():
    """Library and app alike ask the family (its class_noun, label_use, ...), never test its name."""
    names = "unsupervised|supervised|semi_supervised|clustering|vae"
    pattern = re.compile(rf"""kind\s*(==|!=|in\b)|['"]({names})['"]""")
    allowed = {"config.py", "recipes.py", "family_text.py"}   # tables by name (recipes, the app's words), no switch
    found = []
    for file in [*(REPO / "aae_core").rglob("*.py"), *(REPO / "explorer").rglob("*.py"), REPO / "app.py"]:
        if "families" in file.parts or file.name in allowed:
            continue
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#") and "# phases, not kinds" not in line:
                found.append(f"{file.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == [], "\n".join(found)


def test_the_app_asks_the_prior_and_the_family_instead_of_testing_prior_names_or_class_nouns():
    """Priors declare their shape (latent_dim_for, parts_per_label, has_std) torch-free in aae_core.prior_shapes;
    the app reads those (the torch-free picker and catalog included), and reads the class code's noun, never tests
    it. Issue 15.4."""
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?\s*['"](gaussian|mixture|swiss_roll|categorical|class|cluster)['"]"""
                         r"""|\.prior\s*(==|!=|in\b)|\.noun\s*(==|!=|in\b)""")
    found = []
    for file in [*(REPO / "explorer").rglob("*.py"), REPO / "app.py"]:
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{file.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == [], "\n".join(found)


# --- the recipe book --------------------------------------------------------------------------------
def test_every_recipe_builds_valid_configs_and_every_family_names_an_existing_recipe():
    for name, recipe in RECIPES.items():
        assert recipe.name == name and recipe.paper and recipe.summary
        assert isinstance(recipe.model_config(), ModelConfig) and isinstance(recipe.train_config(), TrainConfig)
    for kind in families.FAMILIES:          # every shipped family's default: the first of its kind in the book
        recipe = default_recipe(kind)
        assert recipe is not None and recipe.model["kind"] == kind
        assert recipe is next(r for r in RECIPES.values() if r.model["kind"] == kind)
    with pytest.raises(ValueError, match="unknown recipe 'nope'; known: "):
        get_recipe("nope")


@pytest.mark.parametrize("name", sorted(p.parent.name for p in (REPO / "checkpoints").glob("*/config.json")))
def test_each_shipped_model_was_trained_with_its_recipe(name):
    meta = json.loads((REPO / "checkpoints" / name / "config.json").read_text())
    recipe = get_recipe(name)
    assert recipe.model_config() == ModelConfig.from_dict(meta["model"])
    saved = TrainConfig.from_dict(meta["training"])
    # models trained before the validation split used every training image (0); later ones hold out 5,000
    assert saved.validation_fraction in (0.0, TrainConfig().validation_fraction)
    assert recipe.train_config(seed=saved.seed, eval_size=saved.eval_size,
                               validation_fraction=saved.validation_fraction) == saved


def _args(*argv: str) -> argparse.Namespace:
    return train_cli.build_parser().parse_args(["--out", "x", *argv])


def test_the_cli_starts_from_the_recipe_and_applies_only_the_options_given():
    recipe, model, train = train_cli.configs_from_args(_args("--recipe", "semi_supervised_100"))
    assert recipe.name == "semi_supervised_100"
    assert (model, train) == (recipe.model_config(), recipe.train_config())
    _, model, train = train_cli.configs_from_args(_args("--recipe", "semi_supervised_100", "--epochs", "3",
                                                        "--labels", "1000", "--hidden", "64"))
    assert (train.epochs, model.n_labels, model.hidden_dim) == (3, 1000, 64)
    assert train.input_noise == 0.3 and model.disc_hidden_dim == 512         # the rest stays the recipe's
    with pytest.raises(ValueError, match="does not fit recipe semi_supervised_100"):
        train_cli.configs_from_args(_args("--recipe", "semi_supervised_100", "--kind", "vae"))


def test_without_a_recipe_a_kind_starts_from_its_familys_recipe():
    for kind in families.FAMILIES:
        recipe, model, train = train_cli.configs_from_args(_args("--kind", kind))
        assert recipe is default_recipe(kind) and model.kind == kind
        assert train.input_noise == recipe.train_config().input_noise        # the page's preset agrees
    _, model, _ = train_cli.configs_from_args(_args("--kind", "semi_supervised"))
    assert model.n_labels == 100
    _, model, _ = train_cli.configs_from_args(_args("--kind", "supervised", "--latent-dim", "5"))
    assert (model.n_labels, model.latent_dim) == (60000, 5)
    _, model, _ = train_cli.configs_from_args(_args("--prior", "categorical"))
    assert model.latent_dim == model.n_classes == 10


def test_every_app_page_works_with_a_family_only_this_test_knows(toy_family, tmp_path, fake_mnist_dir, monkeypatch):
    monkeypatch.setitem(family_text.TEXTS, "toy", family_text.FamilyText(        # the app's words for it
        title="toy autoencoder", summary="A test family.", explanation="Only tests know it.",
        map_note="Nothing to see."))
    root = tmp_path / "checkpoints"
    folder = aae_core.save(families.build_model(ModelConfig(kind="toy", latent_dim=2, hidden_dim=16), seed=0),
                           root / "toy_model")
    at = start_app(root, fake_mnist_dir, tmp_path, monkeypatch, timeout=60)
    assert at.selectbox(key="model_ref").value == str(folder.resolve())      # the only model: picked
    assert "toy autoencoder" in [c.value for c in at.sidebar.caption][0]     # described by its family
    assert len(every_page_runs(at)) >= 6
    at.switch_page("explorer/pages/latent_map.py").run()
    assert any("Nothing to see." in m.value for m in at.markdown)            # the family's own map note
    point = {"curve_number": 0, "point_number": 3, "point_index": 3, "x": 0.0, "y": 0.0,
             "customdata": {"0": 0, "1": 3, "2": -1}}
    at.session_state["latent_map_chart"] = {"selection": {"points": [point], "point_indices": [3], "box": [],
                                                          "lasso": []}}
    at.run()
    assert not at.exception and any(c.startswith("Reconstruction") for im in at.image for c in im.captions)


# What a family is: its math. How the app shows it lives with the app (explorer/family_text.py). Issue 15.3: at most
# 15 public members, for the base class and for every registered family (its networks are attributes, not members).
FAMILY_MEMBERS_CEILING = 15


def test_a_family_holds_its_math_not_its_pictures_or_page_words():
    base = set(dir(torch.nn.Module))
    own = sorted(n for n in dir(AAEModel) if not n.startswith("_") and n not in base)
    assert len(own) <= FAMILY_MEMBERS_CEILING, own
    for kind, family in families.FAMILIES.items():
        members = sorted(n for n in dir(family) if not n.startswith("_") and n not in base)
        assert len(members) <= FAMILY_MEMBERS_CEILING, (kind, members)
    shown = {"title", "summary", "explanation", "map_note", "prior_words", "diagram", "describe", "headline_metric",
             "adversarial", "learned_prior", "default_recipe"}
    assert not shown & set(own)
    svg = [str(p.relative_to(REPO)) for p in (REPO / "aae_core").rglob("*.py") if "<svg" in p.read_text()]
    assert svg == []
    assert "<svg" in family_text.of("alae").diagram                   # ALAE's diagram moved to the app


def test_the_app_names_a_family_it_has_no_words_for_by_its_kind_and_survives_a_damaged_kind():
    assert family_text.title("semi_supervised") == "semi-supervised AAE"
    assert family_text.title("toy") == "toy model" and family_text.of("toy") is family_text.UNKNOWN
    for damaged in (None, ["alae"], {"kind": "vae"}, 3):         # what a hand-edited config.json may hold
        assert family_text.of(damaged) is family_text.UNKNOWN
    assert family_text.of("alae").pulled_by == "learned" and family_text.of("vae").pulled_by == "kl"
    assert family_text.of("clustering").headline is S.CLUSTERING_ERROR
