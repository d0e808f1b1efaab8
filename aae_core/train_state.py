"""A run's resumable state next to its checkpoint: optimizer moments, RNG and progress.

optimizer.safetensors holds one tensor per optimizer state entry, named "<phase>.<param index>.<key>"
(and "__rng__", the run's generator), with the param groups as JSON in its metadata. Before any of it is
loaded, every entry is checked against the optimizer it goes into (phases, group and parameter counts,
hyperparameter types, each tensor's shape and dtype, complete entries per parameter): a state that
does not fit is one CheckpointError naming the file and the entry, never a crash inside a fused Adam
step or a run that trains on with another model's moments.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch

from .checkpoint_meta import CONFIG_FILE, OPTIMIZER_FILE, read_meta
from .config import TrainConfig
from .errors import CheckpointConfigError, CorruptCheckpointError, ShapeMismatchError
from .tensor_files import read_safetensors

RNG_KEY = "__rng__"
_ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq")


class ResumableRun(Protocol):
    """What save() and load_trainer_state() ask of a run (the Trainer is one)."""

    config: Any
    state: Any
    precision: str
    optimizers: dict[str, torch.optim.Optimizer]
    generator: torch.Generator

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def flatten_optimizers(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Trainer.state_dict() -> (tensors for safetensors, JSON-able param groups per phase)."""
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, Any] = {}
    for phase, opt_state in state["optimizers"].items():
        groups[phase] = opt_state["param_groups"]
        for idx, per_param in opt_state["state"].items():
            for key, value in per_param.items():
                tensors[f"{phase}.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    if state.get("generator") is not None:
        tensors[RNG_KEY] = state["generator"].cpu()
    return tensors, groups


def _in_model_order(names: Iterable[str], phases: list[str]) -> list[str]:
    """Entry names `<phase>.<index>.<key>` in the model's order (phase, then parameter index), anything else last:
    the first mismatch an error names is the first in the model."""
    def order(name: str) -> tuple[int, int, str]:
        parts = name.split(".", 2)
        if len(parts) != 3 or parts[0] not in phases or not parts[1].isdigit():
            return (len(phases), 0, name)
        return (phases.index(parts[0]), int(parts[1]), parts[2])

    return sorted(names, key=order)


def _unflatten_optimizers(tensors: dict[str, torch.Tensor], groups: dict[str, Any]) -> dict[str, Any]:
    optimizers: dict[str, Any] = {}
    for phase, param_groups in groups.items():
        for g in param_groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        optimizers[phase] = {"state": {}, "param_groups": param_groups}
    for name in _in_model_order(tensors, list(optimizers)):
        value = tensors[name]
        if name == RNG_KEY:
            continue
        phase, idx, key = name.split(".", 2)
        optimizers[phase]["state"].setdefault(int(idx), {})[key] = value
    return optimizers


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_groups(phase: str, saved: Any, opt: torch.optim.Optimizer) -> dict[int, torch.Tensor]:
    """Raise ValueError unless the saved param groups of `phase` match `opt`'s; the parameter each saved
    index stands for (torch pairs them in group order)."""
    if not isinstance(saved, list) or not all(isinstance(g, dict) for g in saved):
        raise ValueError(f"the param groups of phase {phase} are not a list of objects")
    if len(saved) != len(opt.param_groups):
        raise ValueError(f"phase {phase} has {len(saved)} param groups saved; this model's optimizer has "
                         f"{len(opt.param_groups)}")
    by_index: dict[int, torch.Tensor] = {}
    for i, (group, live) in enumerate(zip(saved, opt.param_groups, strict=True)):
        ids = group.get("params")
        if not isinstance(ids, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in ids):
            raise ValueError(f"phase {phase} param group {i} has no list of parameter indices")
        if len(ids) != len(live["params"]):
            raise ValueError(f"phase {phase} param group {i} has {len(ids)} params saved; this model's "
                             f"optimizer has {len(live['params'])}")
        for key, value in live.items():
            if key == "params" or key not in group or isinstance(value, bool) or value is None:
                continue
            got = group[key]
            if _is_number(value) and not _is_number(got):
                raise ValueError(f"phase {phase} param group {i}: {key} is {got!r}, not a number")
            if isinstance(value, tuple) and all(_is_number(v) for v in value) and not (
                    isinstance(got, (list, tuple)) and len(got) == len(value) and all(_is_number(v) for v in got)):
                raise ValueError(f"phase {phase} param group {i}: {key} is {got!r}, not {len(value)} numbers")
        for k, p in zip(ids, live["params"], strict=True):
            if k in by_index:
                raise ValueError(f"phase {phase} lists parameter {k} twice")
            by_index[k] = p
    return by_index


def _expected_keys(opt: torch.optim.Optimizer, entries: dict[int, set[str]]) -> set[str]:
    if isinstance(opt, torch.optim.Adam):
        amsgrad = any(g.get("amsgrad") for g in opt.param_groups)
        return set(_ADAM_KEYS) | ({"max_exp_avg_sq"} if amsgrad else set())
    return set().union(*entries.values()) if entries else set()


def check_state_fits(tensors: dict[str, torch.Tensor], groups: Any, optimizers: dict[str, torch.optim.Optimizer],
                     generator: torch.Generator) -> None:
    """Raise ValueError (one line naming the entry) unless the flattened state fits `optimizers`."""
    if not isinstance(groups, dict):
        raise ValueError("its param_groups metadata is not an object of phases")
    for phase in optimizers:
        if phase not in groups:
            raise ValueError(f"it holds no state for this model's phase {phase}")
    for phase in groups:
        if phase not in optimizers:
            raise ValueError(f"it holds the phase {phase}, which this model does not train")
    params = {phase: _check_groups(phase, groups[phase], opt) for phase, opt in optimizers.items()}
    entries: dict[str, dict[int, set[str]]] = {phase: {} for phase in optimizers}
    for name in _in_model_order(tensors, list(optimizers)):
        value = tensors[name]
        if name == RNG_KEY:
            want = generator.get_state()
            if value.dtype != want.dtype or value.shape != want.shape:
                raise ValueError(f"{RNG_KEY} is {value.dtype} {list(value.shape)}, not a random generator's "
                                 f"state ({want.dtype} {list(want.shape)})")
            continue
        parts = name.split(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or parts[0] not in optimizers:
            raise ValueError(f"entry {name} is not <phase>.<parameter>.<key> of this model's phases")
        phase, idx, key = parts[0], int(parts[1]), parts[2]
        if idx not in params[phase]:
            raise ValueError(f"entry {name} is for parameter {idx}, which phase {phase}'s optimizer does not have")
        if not value.is_floating_point():
            raise ValueError(f"entry {name} is {value.dtype}, not floating point")
        if key == "step":
            if value.shape != () or not bool(torch.isfinite(value)) or float(value) < 0:
                raise ValueError(f"entry {name} must be one non-negative number; it has shape {list(value.shape)}")
        elif value.shape != params[phase][idx].shape:
            raise ValueError(f"entry {name} has shape {list(value.shape)}; its parameter in this model has "
                             f"{list(params[phase][idx].shape)}")
        entries[phase].setdefault(idx, set()).add(key)
    for phase, opt in optimizers.items():
        found = entries[phase]
        if not found:
            continue   # a phase that never stepped
        expected = _expected_keys(opt, found)
        for idx in sorted(params[phase]):
            have = found.get(idx, set())
            if have != expected:
                missing, extra = sorted(expected - have), sorted(have - expected)
                what = (f"lacks {', '.join(missing)}" if missing else "") + \
                       ("; " if missing and extra else "") + (f"has unexpected {', '.join(extra)}" if extra else "")
                raise ValueError(f"the state of {phase}.{idx} (of {len(params[phase])} parameters) {what}")


def _json_types(hint: Any) -> tuple[type, ...]:
    """The JSON value types a field annotated `hint` takes (int for float too; bool never for a number)."""
    if typing.get_origin(hint) is typing.Literal:
        return tuple({type(a) for a in typing.get_args(hint)})
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(hint) for t in _json_types(a))
    return {int: (int,), float: (int, float), bool: (bool,), str: (str,), type(None): (type(None),)}.get(hint, ())


def saved_training(meta: dict[str, Any], where: str | Path) -> TrainConfig:
    """The TrainConfig of a run's config.json (`meta`, read from the file `where`), each field of the type
    it is declared with: a hand-edited `"seed": "x"` is one CheckpointConfigError naming the file and the
    field, not a crash once training starts."""
    data = meta.get("training")
    if not isinstance(data, dict):
        raise CheckpointConfigError(f"{where} has no training config to resume (\"training\" is "
                                    f"{type(data).__name__}); train into a new folder")
    hints = typing.get_type_hints(TrainConfig)
    try:
        for name, value in data.items():
            allowed = _json_types(hints.get(name))
            if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
                names = ("null" if t is type(None) else t.__name__ for t in allowed)
                raise ValueError(f"training.{name} is {value!r}, not {' or '.join(names)}")
        return TrainConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise CheckpointConfigError(f"{where}: its training config cannot be resumed: {exc}; restore that "
                                    "field or train into a new folder") from None


def saved_progress(meta: dict[str, Any], where: Path) -> tuple[int, int, list[dict[str, Any]]]:
    """(epoch, step, history) of a run's config.json, checked: whole numbers >= 0 and a list of objects."""
    progress = meta.get("progress") or {}
    history = meta.get("history", [])
    if not isinstance(progress, dict):
        raise CheckpointConfigError(f"{where}: \"progress\" is {progress!r}, not an object with epoch and step")
    counts = [progress.get("epoch", 0), progress.get("step", 0)]
    if not all(type(c) is int and c >= 0 for c in counts):
        raise CheckpointConfigError(f"{where}: \"progress\" is {progress!r}; epoch and step must be whole "
                                    "numbers >= 0")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise CheckpointConfigError(f"{where}: \"history\" is not a list of per-epoch records")
    return counts[0], counts[1], history


def load_trainer_state(path: str | Path, trainer: ResumableRun) -> None:
    """Restore optimizer state, RNG and progress saved next to a model, for resuming training; a state
    that does not fit the trainer's optimizers raises ShapeMismatchError before anything is loaded."""
    path = Path(path)
    meta = read_meta(path)
    epoch, step, history = saved_progress(meta, path / CONFIG_FILE)
    file = path / OPTIMIZER_FILE
    tensors, metadata = read_safetensors(file)
    try:
        groups = json.loads(metadata["param_groups"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{file} lacks its param_groups metadata ({exc})") from None
    try:
        check_state_fits(tensors, groups, trainer.optimizers, trainer.generator)
    except ValueError as exc:
        raise ShapeMismatchError(f"the optimizer state in {file} does not fit this model: {exc}; resume only "
                                 "from the run that saved it (or train anew with --overwrite)") from None
    trainer.load_state_dict({
        "epoch": epoch, "step": step, "history": history,
        "optimizers": _unflatten_optimizers(tensors, groups),
        "generator": tensors.get(RNG_KEY),
    })
