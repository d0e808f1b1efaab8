"""Checkpoints as folders: config.json + model.safetensors (+ optimizer.safetensors, metrics.json).

Saving writes a temporary sibling folder and renames it into place, so a crash never leaves a
half-written checkpoint; it only ever replaces a folder that is a checkpoint (or empty), never other
files. Loading reads only JSON and safetensors (never pickle), compares the weights' names and shapes
from the safetensors header with the config before allocating anything, and raises one specific
CheckpointError subclass for each way a folder can be wrong.
"""

from __future__ import annotations

import ctypes
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load_bytes
from safetensors.torch import save_file as st_save_file

from .checkpoint_meta import (
    CONFIG_FILE,
    FORMAT_VERSION,
    METRICS_FILE,
    OPTIMIZER_FILE,
    SNAPSHOTS_FILE,
    WEIGHTS_FILE,
    read_meta,
)
from .config import ModelConfig, TrainConfig
from .errors import (
    CheckpointConfigError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointSaveError,
    CorruptCheckpointError,
    NonFiniteWeightsError,
    OutputPathError,
    ShapeMismatchError,
)
from .families import AAEModel, build_model
from .training import Callback, Trainer

# The largest upload the app takes (the server's limit too: .streamlit/config.toml's server.maxUploadSize,
# in MB, must equal this; a test checks). A float32 checkpoint of the paper's size (1000-unit layers) is about 22 MB.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
# A model's safetensors header lists a few dozen tensors (an optimizer's a few hundred): a few KB.
MAX_HEADER_BYTES = 16 * 1024 * 1024
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
# What a checkpoint folder may hold: the files this package writes into one (metrics.json from evaluate,
# cached latent-map projections) and the hidden temporary files of their atomic writes. A folder holding
# anything else is not a checkpoint, and is never replaced.
CHECKPOINT_FILE_PATTERNS = (CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, METRICS_FILE, "projection_*.safetensors",
                            SNAPSHOTS_FILE, f".{METRICS_FILE}.*", ".projection_*.safetensors.*",
                            f".{SNAPSHOTS_FILE}.*")


def _versions() -> dict[str, str]:
    from . import __version__

    return {"aae_core": __version__, "torch": torch.__version__}


def _flatten_optimizers(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Trainer.state_dict() -> (tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, Any] = {}
    for phase, opt_state in state["optimizers"].items():
        groups[phase] = opt_state["param_groups"]
        for idx, per_param in opt_state["state"].items():
            for key, value in per_param.items():
                tensors[f"{phase}.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    if state.get("generator") is not None:
        tensors["__rng__"] = state["generator"].cpu()
    return tensors, groups


def _unflatten_optimizers(tensors: dict[str, torch.Tensor], groups: dict[str, Any]) -> dict[str, Any]:
    optimizers: dict[str, Any] = {}
    for phase, param_groups in groups.items():
        for g in param_groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        optimizers[phase] = {"state": {}, "param_groups": param_groups}
    for name, value in tensors.items():
        if name == "__rng__":
            continue
        phase, idx, key = name.split(".", 2)
        optimizers[phase]["state"].setdefault(int(idx), {})[key] = value
    return optimizers


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_write_text(path: str | Path, text: str | bytes) -> None:
    """Write text (or bytes) to path through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE))
    return rc == 0


def _holds_only(folder: Path, patterns: tuple[str, ...]) -> bool:
    """True when every entry of `folder` is a plain file whose name matches one of `patterns`."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return all(e.is_file() and not e.is_symlink() and any(fnmatch.fnmatchcase(e.name, p) for p in patterns)
               for e in entries)


def is_checkpoint_folder(path: str | Path) -> bool:
    """True when `path` is a folder (not a link) holding a checkpoint's config.json and nothing but
    the files a checkpoint folder has (CHECKPOINT_FILE_PATTERNS)."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir() or not _holds_only(path, CHECKPOINT_FILE_PATTERNS):
        return False
    try:
        meta = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(meta, dict) and "format_version" in meta and "model" in meta


def check_replaceable(path: str | Path, *, is_ours: Callable[[Path], bool] = is_checkpoint_folder,
                      what: str = "checkpoint") -> None:
    """Raise OutputPathError unless `path` is absent, an empty folder, or a `what` folder (is_ours):
    saving never replaces, hides or deletes anything else."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_symlink():
        raise OutputPathError(f"{path} is a symbolic link, not a {what} folder, and is never replaced; "
                              "give the folder's real path or a new one")
    if not path.is_dir():
        raise OutputPathError(f"{path} is a file, not a {what} folder, and is never replaced; "
                              "choose a new or empty folder")
    try:
        names = sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise OutputPathError(f"cannot read {path} ({exc.strerror or exc}); choose a new or empty folder") from None
    if names and not is_ours(path):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise OutputPathError(f"{path} is not a {what} folder (it holds {shown}) and is never replaced or "
                              "deleted; choose a new or empty folder")


def check_writable(path: str | Path) -> None:
    """Raise OutputPathError unless a folder can be created at `path`: its nearest existing parent must
    accept a new file. Asked of the system and then tried with a probe file, since os.access says yes
    to root even on a read-only mount."""
    path = Path(path).absolute()
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {path}: no permission to create files in {parent}")
    try:
        fd, probe = tempfile.mkstemp(dir=str(parent), prefix=f".{path.name}.probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {parent} does not accept new files "
                              f"({exc.strerror or exc})") from None


def _leftover_pattern(path: Path) -> re.Pattern[str]:
    """Names of the sibling folders save() and replace_folder() make for `path` (see sibling_path)."""
    return re.compile(rf"\.{re.escape(path.name)}\.(tmp|old)-[0-9a-f]{{8}}")


def sibling_path(path: Path, role: str) -> Path:
    """A fresh hidden name next to `path` for a temporary ('tmp') or displaced ('old') folder."""
    return path.parent / f".{path.name}.{role}-{uuid.uuid4().hex[:8]}"


def remove_leftovers(path: str | Path, patterns: tuple[str, ...] = CHECKPOINT_FILE_PATTERNS) -> None:
    """Delete the temporary folders a killed save of `path` left next to it: only folders named exactly
    as this module names them for `path`, holding nothing but files matching `patterns`."""
    path = Path(path)
    pattern = _leftover_pattern(path)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink() \
                and _holds_only(entry, patterns):
            shutil.rmtree(entry, ignore_errors=True)


def replace_folder(new: Path, path: Path, *, is_ours: Callable[[Path], bool] = is_checkpoint_folder,
                   what: str = "checkpoint") -> None:
    """Put the finished folder `new` at `path`, replacing what is there: nothing, an empty folder or a
    `what` folder (is_ours); anything else raises OutputPathError and both are left as they are.

    Where the system can swap two paths atomically (Linux), readers see the old folder or the new one,
    never none; elsewhere the old folder is moved aside first, so for an instant `path` is absent
    (it is never half-written either way)."""
    check_replaceable(path, is_ours=is_ours, what=what)
    if path.exists() and _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old folder
        return
    old = None
    if path.exists():
        old = sibling_path(path, "old")
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save(model: AAEModel, path: str | Path, *, train_config: TrainConfig | None = None,
         trainer: Trainer | None = None, half: bool = False, extra: dict[str, Any] | None = None) -> Path:
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
    tensors, groups = _flatten_optimizers(trainer.state_dict()) if trainer is not None else ({}, {})
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
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = "the previous checkpoint there is intact" if had_previous else "nothing was written there"
        # The old checkpoint stays until the new one is complete, so a save needs room for a whole new one.
        err = CheckpointSaveError(f"could not save the checkpoint to {path}: {exc.strerror or exc}; {kept}. "
                                  f"Saving needs about {needed / 2**20:.1f} MB free in {path.parent.absolute()}")
        err.errno = exc.errno
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


def _read_header(file: Path) -> tuple[dict[str, tuple[str, list[int]]], dict[str, str]]:
    """({tensor name: (dtype, shape)}, metadata) from a safetensors file's header alone: its 8-byte
    length (capped at MAX_HEADER_BYTES) and the JSON after it. Reads no tensor data."""
    if not file.is_file():
        raise CheckpointNotFoundError(f"{file.parent} has no {file.name}")
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("shorter than the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > size - 8:
                raise ValueError(f"header length {n} is past the end of the file")
            if n > MAX_HEADER_BYTES:
                raise CorruptCheckpointError(f"{file} has a header of {n} bytes, more than the "
                                             f"{MAX_HEADER_BYTES} a checkpoint's needs; it is not a checkpoint file")
            header = json.loads(fh.read(n))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        entries = {}
        for name, info in header.items():
            shape = info.get("shape") if isinstance(info, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError(f"tensor {name!r} has no valid shape")
            entries[name] = (info.get("dtype"), shape)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"{file} is truncated or not a safetensors file ({exc})") from None
    return entries, metadata


def _read_safetensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    _, metadata = _read_header(file)
    try:
        tensors = st_load_bytes(file.read_bytes())
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"{file} is truncated or not a safetensors file ({exc})") from None
    return tensors, metadata


def _check_weights_fit(file: Path, config: ModelConfig) -> None:
    """Compare the names, shapes and dtypes in the header of `file` with those of the model `config`
    describes, built on the meta device (no memory), so a config.json that does not fit its weights is
    refused before anything of its size is allocated."""
    header, _ = _read_header(file)
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
    weights, _ = _read_safetensors(path / WEIGHTS_FILE)
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


def load_trainer_state(path: str | Path, trainer: Trainer) -> None:
    """Restore optimizer state, RNG and progress saved next to a model, for resuming training."""
    path = Path(path)
    meta = read_config(path)
    tensors, metadata = _read_safetensors(path / OPTIMIZER_FILE)
    try:
        groups = json.loads(metadata["param_groups"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{path / OPTIMIZER_FILE} lacks its param_groups metadata ({exc})") from None
    progress = meta.get("progress") or {}
    trainer.load_state_dict({
        "epoch": progress.get("epoch", 0), "step": progress.get("step", 0),
        "history": meta.get("history", []),
        "optimizers": _unflatten_optimizers(tensors, groups),
        "generator": tensors.get("__rng__"),
    })


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


@dataclass(frozen=True)
class CheckpointFiles:
    """The bytes of one uploaded checkpoint, exactly as they will be loaded (read_upload makes them)."""

    config: bytes
    weights: bytes
    metrics: bytes | None = None

    @property
    def identity(self) -> str:
        """sha256 over exactly the config.json and model.safetensors bytes that load: two uploads share a
        model (and a cache entry) only when both files are byte for byte the same."""
        h = hashlib.sha256()
        for part in (self.config, self.weights):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()

    def load(self, device: str | torch.device | None = None) -> AAEModel:
        """The model, through load() (the one reader of a checkpoint). Error messages name the upload's
        files, never the temporary folder they pass through."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, blob in ((CONFIG_FILE, self.config), (WEIGHTS_FILE, self.weights), (METRICS_FILE, self.metrics)):
                if blob is not None:
                    (Path(tmp) / name).write_bytes(blob)
            try:
                return load(tmp, device)
            except CheckpointError as exc:
                text = str(exc).replace(tmp + os.sep, "").replace(tmp, "the upload")
                raise type(exc)(text) from None


def _too_large(what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"{what} is larger than {MAX_UPLOAD_BYTES // 2**20} MB; a checkpoint needs only config.json and "
        "model.safetensors (leave optimizer.safetensors out, or ship a float16 copy with "
        "`python -m aae_core.export SRC DST`)")


def _read_zip(data: bytes) -> CheckpointFiles:
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large("the archive")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise CorruptCheckpointError("the upload is not a zip archive of a checkpoint folder") from None
    wanted = (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE)
    folders: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for info in zf.infolist():
        parts = Path(info.filename).parts
        if not info.is_dir() and parts and parts[-1] in wanted:
            folders.setdefault("/".join(parts[:-1]), {})[parts[-1]] = info
    checkpoints = {f: m for f, m in folders.items() if CONFIG_FILE in m or WEIGHTS_FILE in m}
    if len(checkpoints) > 1:
        names = ", ".join(f"{f}/" if f else "the top" for f in sorted(checkpoints)[:4])
        raise CheckpointConfigError(f"the archive holds more than one checkpoint folder ({names}); zip a single "
                                    "checkpoint folder")
    folder, members = next(iter(checkpoints.items()), ("", {}))
    if folder.count("/") > 0:
        raise CheckpointNotFoundError(f"the archive must hold {CONFIG_FILE} and {WEIGHTS_FILE} at its top or "
                                      "inside one folder, not deeper")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in members:
            raise CheckpointNotFoundError(f"the archive has no {name}; a checkpoint folder holds {CONFIG_FILE} "
                                          f"and {WEIGHTS_FILE}")
    if sum(i.file_size for i in members.values()) > MAX_UPLOAD_BYTES:  # checked before anything is inflated
        raise _too_large("the archive's checkpoint")
    try:
        # a member inflates to at most its declared size (zipfile stops there and checks the CRC)
        blobs = {name: zf.read(info) for name, info in members.items()}
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"the archive is damaged ({type(exc).__name__})") from None
    return CheckpointFiles(blobs[CONFIG_FILE], blobs[WEIGHTS_FILE], blobs.get(METRICS_FILE))


def _pick(named: dict[str, bytes], exact: str, suffix: str, others: tuple[str, ...]) -> bytes | None:
    """The file called `exact`, else the one file ending in `suffix` that is none of `others`."""
    if exact in named:
        return named[exact]
    loose = [n for n in named if n.endswith(suffix) and n not in others]
    if len(loose) > 1:
        raise CheckpointConfigError(f"{', '.join(sorted(loose))}: which one is {exact}? Name it {exact}")
    return named[loose[0]] if loose else None


def read_upload(files: Sequence[tuple[str, bytes]]) -> CheckpointFiles:
    """The one parser of uploaded checkpoints: a .zip of one checkpoint folder on its own, or the folder's
    files side by side (config.json and model.safetensors; metrics.json optional; other files ignored).

    Only bytes are read, never unpickled; sizes are checked before anything is read from an archive.
    CheckpointError subclasses say what is wrong in words meant for the person who uploaded."""
    if any(name.lower().endswith(".zip") for name, _ in files):
        if len(files) != 1:
            raise CheckpointConfigError("upload a .zip on its own, or config.json and model.safetensors together")
        return _read_zip(files[0][1])
    if sum(len(blob) for _, blob in files) > MAX_UPLOAD_BYTES:
        raise _too_large("the upload")
    named: dict[str, bytes] = {}
    for name, blob in files:
        key = Path(name).name.lower()
        if key in named:
            raise CheckpointConfigError(f"two files are called {key}")
        named[key] = blob
    weights = _pick(named, WEIGHTS_FILE, ".safetensors", (OPTIMIZER_FILE,))
    config = _pick(named, CONFIG_FILE, ".json", (METRICS_FILE,))
    if config is None or weights is None:
        missing = " and ".join(n for n, b in ((CONFIG_FILE, config), (WEIGHTS_FILE, weights)) if b is None)
        raise CheckpointNotFoundError(f"no {missing}: a checkpoint is a .zip of its folder, or its {CONFIG_FILE} "
                                      f"and {WEIGHTS_FILE} uploaded together")
    return CheckpointFiles(config, weights, named.get(METRICS_FILE))


def load_zip(data: bytes, device: str | torch.device | None = None) -> AAEModel:
    """Load a checkpoint handed in as a .zip of its folder (config.json + model.safetensors, at the top
    or inside one folder). Only those members are read; nothing is unpickled."""
    return read_upload([("checkpoint.zip", data)]).load(device)


def load_files(files: dict[str, bytes], device: str | torch.device | None = None) -> AAEModel:
    """Load a checkpoint handed in as separate files {'config.json': ..., 'model.safetensors': ...}."""
    return read_upload(list(files.items())).load(device)


class CheckpointCallback(Callback):
    """Saves model + optimizer state to `path` every `every` epochs and when a run ends or stops.

    A diverged run raises before any of these hooks, so the last good checkpoint stays."""

    def __init__(self, path: str | Path, every: int = 1, extra: dict[str, Any] | None = None) -> None:
        self.path, self.every, self.extra = Path(path), max(1, every), extra
        self._start_step: int | None = None
        self._saved_step: int | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        self._start_step, self._saved_step = trainer.state.step, None

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if trainer.state.epoch % self.every == 0:
            save(trainer.model, self.path, trainer=trainer, extra=self.extra)
            self._saved_step = trainer.state.step

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        # Saved already: by this run at this step, or (a resumed run that trained no step) the folder it
        # resumed from. A checkpoint of another run at the same step (--overwrite) is not this run's.
        step = trainer.state.step
        saved = self._saved_step == step or (
            self._start_step == step and (self.path / CONFIG_FILE).is_file()
            and (read_config(self.path).get("progress") or {}).get("step") == step)
        if not saved:
            save(trainer.model, self.path, trainer=trainer, extra=self.extra)
