"""Checkpoints as folders: config.json + model.safetensors (+ optimizer.safetensors, metrics.json).

Saving writes a temporary sibling folder and renames it into place (fsutil), so a crash never leaves a
half-written checkpoint; it only ever replaces a folder that is a checkpoint (or empty), never other
files. Loading reads only JSON and safetensors (never pickle), compares the weights' names and shapes
from the safetensors header with the config before allocating anything, and raises one specific
CheckpointError subclass for each way a folder can be wrong. The optimizer state of a run is
train_state's; uploaded checkpoints are parsed by uploads.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file as st_save_file

from . import __version__
from .checkpoint_meta import CONFIG_FILE, FORMAT_VERSION, METRICS_FILE, OPTIMIZER_FILE, WEIGHTS_FILE, read_meta
from .config import ModelConfig, TrainConfig
from .errors import (
    CheckpointConfigError,
    CheckpointSaveError,
    CorruptCheckpointError,
    NonFiniteWeightsError,
    ShapeMismatchError,
)
from .families import AAEModel, build_model
from .fsutil import (
    atomic_write_text,
    check_replaceable,
    is_checkpoint_folder,
    remove_leftovers,
    replace_folder,
    sibling_path,
)
from .tensor_files import read_header, read_safetensors
from .train_state import ResumableRun, flatten_optimizers

FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def _versions() -> dict[str, str]:
    return {"aae_core": __version__, "torch": torch.__version__}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _io_failure(exc: OSError | SafetensorError) -> tuple[str, int | None]:
    """(the system's words, errno) of a failed write. safetensors reports a full disk not as an OSError but
    as SafetensorError('Error while serializing: I/O error: No space left on device (os error 28)')."""
    if isinstance(exc, OSError):
        return str(exc.strerror or exc), exc.errno
    found = re.search(r"I/O error: (.*?) \(os error (\d+)\)", str(exc))
    return (found.group(1), int(found.group(2))) if found else (str(exc), None)


def save(model: AAEModel, path: str | Path, *, train_config: TrainConfig | None = None,
         trainer: ResumableRun | None = None, half: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """Write model (and, given a trainer, its optimizer state for resuming) to the folder `path`.

    half stores the weights as float16 (they load back as float32). extra is merged into config.json.
    The folder is replaced atomically: readers see the old checkpoint or the new one, never a mix.
    Only a checkpoint folder or an empty one is replaced: anything else at `path` raises OutputPathError
    before anything is written. A failed write (disk full) raises CheckpointSaveError and leaves the
    previous checkpoint intact. Temporary folders of earlier, killed saves of `path` are removed."""
    path = Path(path)
    check_replaceable(path)
    had_previous = is_checkpoint_folder(path)
    train_config = train_config or (trainer.config if trainer else None)
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "training": train_config.to_dict() if train_config else None,
        "dataset": model.config.dataset,
        "n_labels": model.config.n_labels,
        "seed": train_config.seed if train_config else None,
        "versions": _versions(),
        "weights_dtype": "float16" if half else "float32",
    }
    if trainer is not None:
        meta["progress"] = {"epoch": trainer.state.epoch, "step": trainer.state.step}
        meta["precision"] = trainer.precision   # what "auto" became on the device that trained
        meta["history"] = trainer.state.history
    meta.update(extra or {})

    dtype = torch.float16 if half else torch.float32
    weights = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    tensors, groups = flatten_optimizers(trainer.state_dict()) if trainer is not None else ({}, {})
    needed = sum(t.numel() * t.element_size() for t in (*weights.values(), *tensors.values()))
    tmp = sibling_path(path, "tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        st_save_file(weights, str(tmp / WEIGHTS_FILE))
        if trainer is not None:
            st_save_file(tensors, str(tmp / OPTIMIZER_FILE), metadata={"param_groups": json.dumps(groups)})
        _write_json(tmp / CONFIG_FILE, meta)
        replace_folder(tmp, path)
    except (OSError, SafetensorError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = "the previous checkpoint there is intact" if had_previous else "nothing was written there"
        reason, err_no = _io_failure(exc)
        # The old checkpoint stays until the new one is complete, so a save needs room for a whole new one.
        err = CheckpointSaveError(f"could not save the checkpoint to {path}: {reason}; {kept}. "
                                  f"Saving needs about {needed / 2**20:.1f} MB free in {path.parent.absolute()}")
        err.errno = err_no
        raise err from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_leftovers(path)
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """The parsed, checked config.json of a checkpoint folder, with meta["model"] a ModelConfig."""
    meta = read_meta(path)
    try:
        meta["model"] = ModelConfig.from_dict(meta["model"])
    except (TypeError, ValueError) as exc:
        raise CheckpointConfigError(f"{Path(path) / CONFIG_FILE} describes an invalid model: {exc}") from None
    return meta


def _check_weights_fit(file: Path, config: ModelConfig) -> None:
    """Compare the names, shapes and dtypes in the header of `file` with those of the model `config`
    describes, built on the meta device (no memory), so a config.json that does not fit its weights is
    refused before anything of its size is allocated."""
    header, _ = read_header(file)
    with torch.device("meta"):
        skeleton = build_model(config)
    expected = {k: list(v.shape) for k, v in skeleton.state_dict().items()}
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    wrong = [f"{k}: file {header[k][1]} vs config {shape}"
             for k, shape in expected.items() if k in header and header[k][1] != shape]
    if missing or unexpected or wrong:
        parts = ([f"missing {', '.join(missing[:4])}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected[:4])}"] if unexpected else []) + wrong[:4]
        raise ShapeMismatchError(f"the weights in {file} do not fit the model config.json "
                                 f"describes: {'; '.join(parts)}")
    not_float = [f"{k} ({dtype})" for k, (dtype, _) in header.items() if dtype not in FLOAT_DTYPES]
    if not_float:
        raise CorruptCheckpointError(f"{file} holds tensors that are not floating point: {', '.join(not_float[:4])}")


def load(path: str | Path, device: str | torch.device | None = None) -> AAEModel:
    """Load the model in checkpoint folder `path`, in eval mode, on `device` (default CPU).

    The checkpoint's config.json is available as model.checkpoint_meta."""
    path = Path(path)
    meta = read_config(path)
    config: ModelConfig = meta["model"]
    _check_weights_fit(path / WEIGHTS_FILE, config)
    weights, _ = read_safetensors(path / WEIGHTS_FILE)
    for name, value in weights.items():
        if not torch.isfinite(value).all():
            raise NonFiniteWeightsError(f"{path / WEIGHTS_FILE}: tensor {name} holds NaN or infinite values "
                                        "(the run that wrote it had diverged); use an earlier checkpoint")
    model = build_model(config)
    try:
        model.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    except RuntimeError as exc:
        raise ShapeMismatchError(f"the weights in {path / WEIGHTS_FILE} do not fit the model config.json "
                                 f"describes: {exc}") from None
    model.checkpoint_meta = {k: v for k, v in meta.items() if k != "model"}
    model.requires_grad_(False)  # a loaded model answers queries; a Trainer re-enables what it trains
    model.eval()
    return model.to(device) if device is not None else model


def load_metrics(path: str | Path) -> dict[str, Any] | None:
    """metrics.json of a checkpoint folder, or None when it has not been evaluated."""
    file = Path(path) / METRICS_FILE
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError:
        return None


def save_metrics(path: str | Path, metrics: dict[str, Any]) -> None:
    atomic_write_text(Path(path) / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
