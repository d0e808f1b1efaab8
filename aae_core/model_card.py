"""Model cards: a README.md for a checkpoint folder, generated from its config.json and metrics.json.

The card opens with the YAML front matter that model hubs read (library, tags, dataset, metrics as a
model-index), then says in words what the model is, how it was trained and what it measured on the test set.
It is generated, never hand-edited: `python -m aae_core.model_card DIR [DIR ...]` (re)writes the cards, and a
test checks that every shipped card equals what its folder's files generate now.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .checkpoint_meta import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, read_meta
from .errors import AAEError
from .fsutil import atomic_write_text
from .prior_shapes import shape_of
from .recipes import RECIPES

CARD_FILE = "README.md"
LIBRARY = "aae-explorer"
# Fields of metrics.json that describe the evaluation rather than measure the model.
_NOT_MEASURES = {"n_test", "latent_dim", "n_labels", "seconds", "kind", "prior", "dataset", "device",
                 "evaluated_at", "mmd_same_prior"}


def _measures(metrics: dict[str, Any], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, float]]:
    """(dotted name, value) of every number in metrics.json up to two levels deep; lists are left out."""
    for key, value in metrics.items():
        if key in _NOT_MEASURES or key.startswith("n_"):   # counts describe the evaluation
            continue
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            yield name, float(value)
        elif isinstance(value, dict) and depth < 1:
            yield from _measures(value, f"{name}.", depth + 1)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)   # a JSON string is a valid YAML flow scalar


def _where(folder: Path) -> str:
    """How the card names its folder: `checkpoints/<name>` for a shipped model (the same from any checkout)."""
    return f"checkpoints/{folder.name}" if folder.resolve().parent.name == "checkpoints" else str(folder)


def render_card(folder: str | Path) -> str:
    """The model card of checkpoint folder `folder` (which holds config.json, and metrics.json if evaluated)."""
    folder = Path(folder)
    meta = read_meta(folder)
    model, training = meta["model"], meta.get("training", {})
    name = meta.get("recipe") or folder.name
    recipe = RECIPES.get(name)
    metrics_path = folder / METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    measures = list(_measures(metrics))
    kind, prior = str(model.get("kind", "")), str(model.get("prior", ""))
    dataset = str(model.get("dataset", meta.get("dataset", "mnist")))

    tags = ["adversarial-autoencoder", "pytorch", "safetensors", dataset, kind]
    if prior:
        tags.append(f"{prior}-prior")
    lines = ["---", f"library_name: {LIBRARY}", "tags:"]
    lines += [f"- {_yaml_str(t)}" for t in tags]
    lines += ["datasets:", f"- {_yaml_str(dataset)}"]
    if measures:
        lines += ["model-index:", f"- name: {_yaml_str(name)}", "  results:",
                  "  - task:", "      type: representation-learning",
                  f"    dataset: {{type: {_yaml_str(dataset)}, name: {_yaml_str(dataset.upper())}, split: test}}",
                  "    metrics:"]
        lines += [f"    - {{type: {_yaml_str(m)}, value: {v!r}}}" for m, v in measures]
    lines.append("---")

    summary = recipe.summary if recipe else f"A {kind} model with a {prior} prior."
    lines += ["", f"# {name}", "", summary]
    if recipe:
        lines += ["", f"Recipe `{recipe.name}` in `aae_core/recipes.py`, after: {recipe.paper}."]
    lines += ["", "## Model", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in model.items()]
    if training:
        lines += ["", "## Training", "", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in training.items() if not isinstance(v, (dict, list))]
        progress = meta.get("progress", {})
        if progress:
            lines += ["", f"Trained for {progress.get('epoch')} epochs ({progress.get('step')} steps)"
                      + (f" with `{meta['command']}`." if meta.get("command") else ".")]
    if measures:
        lines += ["", f"## Measured on the {dataset.upper()} test set", "",
                  "| metric | value |", "|---|---|"]
        lines += [f"| {m} | {_fmt(v)} |" for m, v in measures]
        if metrics.get("evaluated_at"):
            lines += ["", f"Evaluated {metrics['evaluated_at']} on {metrics.get('device', 'an unnamed device')}."]
    else:
        lines += ["", "Not evaluated yet: `python -m aae_core.evaluate` writes metrics.json."]
    lines += ["", "## Use", "", "```python", "import torch", "", "from aae_core.checkpoint import load", "",
              f"model = load({_yaml_str(_where(folder))}).eval()   # config.json + {WEIGHTS_FILE}, strict load",
              "digits = torch.arange(16) % 10",
              "with torch.no_grad():",
              "    z = model.prior.sample(16, labels=digits)   # a label-conditioned prior: one part per digit"
              if model.get("label_conditioned") and shape_of(model.get("prior")).parts_per_label
              else "    z = model.prior.sample(16)",
              "    images = model.decode(z, digits)             # [16, 1, 28, 28] in [0, 1]; digits only used "
              "by class-coded decoders",
              "```", "", f"Files: `{CONFIG_FILE}` (the model's description), `{WEIGHTS_FILE}` (weights),"
              f" `{METRICS_FILE}` (test-set measurements). No pickle anywhere.", ""]
    return "\n".join(lines)


def write_card(folder: str | Path) -> Path:
    """Writes README.md into the checkpoint folder (atomically); returns its path."""
    path = Path(folder) / CARD_FILE
    atomic_write_text(path, render_card(folder))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aae-card", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="checkpoint folders to write a README.md model card into")
    args = parser.parse_args(argv)
    try:
        for folder in args.folders:
            print(write_card(folder))
    except AAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
