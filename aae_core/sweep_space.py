"""The search space of a recipe sweep (aae_core.sweep): fields and their ranges, a trial's values as
recipes.resolve() changes, and the recipe's own values (the first trial)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from .config import SCHEDULABLE, ModelConfig, TrainConfig
from .families import build_model
from .recipes import MODEL_FIELDS, TRAIN_FIELDS, Resolved

SWEEPABLE = tuple(f for f in MODEL_FIELDS + TRAIN_FIELDS if f not in ("kind", "epochs", "schedules"))


@dataclass(frozen=True)
class Field:
    """One dimension of the search: a config field (or FIELD.shape / FIELD.final of its schedule)."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def parse_value(text: str) -> Any:
    """'0.3' -> 0.3, 'true' -> True, 'mixture' -> 'mixture' (JSON where it parses, else the text)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def fixed_changes(sets: list[str]) -> dict[str, Any]:
    """--set NAME=VALUE options -> resolve() changes."""
    pairs = [s.split("=", 1) for s in sets]
    if any(len(p) != 2 for p in pairs):
        raise ValueError("--set takes NAME=VALUE")
    return {name: parse_value(value) for name, value in pairs}


def parse_field(text: str) -> Field:
    """'lr_generator=1e-4:2e-3:log' / 'latent_dim=3,5,8' / 'class_code_noise.shape=linear,cosine' -> Field."""
    name, sep, spec = text.partition("=")
    base, _, part = name.partition(".")
    if not sep or not spec:
        raise ValueError(f"--field {text!r}: expected NAME=LOW:HIGH[:log] or NAME=A,B,C")
    if part and (base not in SCHEDULABLE or part not in ("shape", "final")):
        raise ValueError(f"--field {name}: only {', '.join(SCHEDULABLE)} have schedules (NAME.shape, NAME.final)")
    if not part and base not in SWEEPABLE:
        raise ValueError(f"--field {name}: unknown field; sweepable: {', '.join(SWEEPABLE)}")
    if "," in spec or part == "shape":
        choices = tuple(parse_value(c) for c in spec.split(","))
        if len(set(map(str, choices))) < 2:
            raise ValueError(f"--field {name}: give at least two different choices")
        return Field(name, choices=choices)
    bounds = spec.split(":")
    log = bounds[-1] == "log"
    if log:
        bounds = bounds[:-1]
    try:
        low, high = (float(b) for b in bounds)
    except ValueError:
        raise ValueError(f"--field {name}={spec}: expected LOW:HIGH or LOW:HIGH:log with numbers") from None
    if not low < high:
        raise ValueError(f"--field {name}={spec}: LOW must be below HIGH")
    if log and low <= 0:
        raise ValueError(f"--field {name}={spec}: a log range must start above 0")
    default = getattr(ModelConfig if base in MODEL_FIELDS else TrainConfig, base, None)
    integer = not part and isinstance(default, int) and not isinstance(default, bool)
    if integer and not (low.is_integer() and high.is_integer()):
        raise ValueError(f"--field {name}={spec}: {name} is a whole number; give whole bounds")
    return Field(name, low, high, log, integer)


def changes_of(params: dict[str, Any], start: Resolved) -> dict[str, Any]:
    """A trial's parameters as resolve() changes: FIELD.shape / FIELD.final become schedules."""
    changes: dict[str, Any] = {k: v for k, v in params.items() if "." not in k}
    schedules = {}
    for key in sorted({k.partition(".")[0] for k in params if "." in k}):
        sched = start.train.schedules.get(key)
        shape = params.get(f"{key}.shape", sched.shape if sched else "linear")
        final = params.get(f"{key}.final", sched.final if sched else 0.0)
        schedules[key] = {"shape": shape, "final": final} if shape != "constant" else {"shape": "constant"}
    if schedules:
        changes["schedules"] = schedules
    return changes


def recipe_params(fields: list[Field], start: Resolved) -> dict[str, Any]:
    """The recipe's own values of the swept fields (the first trial), where they lie inside the ranges."""
    out = {}
    for f in fields:
        base, _, part = f.name.partition(".")
        if part:
            sched = start.train.schedules.get(base)
            value = (sched.shape if sched else "constant") if part == "shape" else (sched.final if sched else None)
        elif base in MODEL_FIELDS:
            value = getattr(start.model, base)
        else:
            value = start.train.start_value(base) if base in SCHEDULABLE else getattr(start.train, base)
        if value is None:
            continue
        if f.choices and value in f.choices or not f.choices and f.low <= value <= f.high:
            out[f.name] = value
    return out


def available_metrics(start: Resolved) -> list[str]:
    """The per-epoch validation numbers a run of this config reports (Trainer.evaluate: eval_mse and the
    family's own, e.g. eval_error), found by asking an untrained model of that config."""
    model = build_model(start.model, seed=0).eval()
    x, y = torch.rand(20, 784), torch.arange(20) % 10
    with torch.no_grad():
        return ["eval_mse", *model.metrics(x, y, per_epoch=True)]
