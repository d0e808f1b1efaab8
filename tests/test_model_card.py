"""Model cards (aae_core.model_card): the README.md of each shipped checkpoint is generated from its files and
stays in step with them; its front matter is the YAML that model hubs read; its code example runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config

from aae_core.checkpoint import save, save_metrics
from aae_core.families import FAMILIES, build_model
from aae_core.model_card import CARD_FILE, main, render_card, write_card

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
SHIPPED = sorted(p for p in CHECKPOINTS.iterdir() if (p / "config.json").is_file())


def front_matter(card: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    assert match, "a card opens with YAML front matter between --- lines"
    return yaml.safe_load(match.group(1))


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_checkpoint_has_a_card_generated_from_its_current_files(folder):
    card = folder / CARD_FILE
    assert card.is_file(), f"run: python -m aae_core.model_card {folder}"
    assert card.read_text() == render_card(folder), f"stale card; run: python -m aae_core.model_card {folder}"


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_the_front_matter_carries_library_tags_dataset_and_the_measured_metrics(folder):
    meta = front_matter(render_card(folder))
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert meta["library_name"] == "aae-explorer"
    assert config["model"]["kind"] in meta["tags"] and "mnist" in meta["datasets"]
    reported = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert reported["reconstruction.mse"] == pytest.approx(metrics["reconstruction"]["mse"])
    for key, value in metrics.items():   # every top-level number is in the card, nothing else is invented
        if isinstance(value, float) and not key.startswith("n_") and key != "seconds":
            assert reported[key] == pytest.approx(value), key
    assert all(isinstance(v, float) for v in reported.values())


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_the_cards_example_runs_for_every_family(kind, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    save(build_model(tiny_config(kind)), folder)
    save_metrics(folder, {"n_test": 10, "reconstruction": {"mse": 0.25, "bce": 100.0}, "seconds": 1.0})
    assert main([str(folder)]) == 0
    card = (folder / CARD_FILE).read_text()
    assert front_matter(card)["model-index"][0]["results"][0]["metrics"] == [
        {"type": "reconstruction.mse", "value": 0.25}, {"type": "reconstruction.bce", "value": 100.0}]
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "card", "exec"), scope)   # the example as a reader would paste it
    images = scope["images"]
    assert images.shape == (16, 1, 28, 28) and torch.all((images >= 0) & (images <= 1))


def test_an_unevaluated_folder_gets_a_card_that_says_so(tmp_path):
    save(build_model(tiny_config("vae")), tmp_path / "v")
    card = (write_card(tmp_path / "v")).read_text()
    assert "model-index" not in front_matter(card) and "Not evaluated yet" in card


def test_a_folder_that_is_not_a_checkpoint_is_one_line_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
