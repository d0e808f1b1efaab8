"""Uploaded checkpoints: the one parser (read_upload) of a .zip of one checkpoint folder or its files side
by side, into CheckpointFiles, whose identity is a hash of exactly the bytes that load and which load
through checkpoint.load (the one reader of a checkpoint). Only bytes are read, never unpickled."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import load
from .checkpoint_meta import CONFIG_FILE, MAX_UPLOAD_BYTES, METRICS_FILE, OPTIMIZER_FILE, WEIGHTS_FILE
from .errors import CheckpointConfigError, CheckpointError, CheckpointNotFoundError, CorruptCheckpointError
from .families import AAEModel


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


# What zipfile raises on a damaged archive: a bad central directory or name encoding (ValueError,
# UnicodeDecodeError), an unknown compression method (NotImplementedError), a bad deflate stream
# (zlib.error), a CRC or length mismatch (BadZipFile, EOFError), an encrypted member (RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError)


def _read_zip(data: bytes) -> CheckpointFiles:
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large("the archive")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
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
    except _ZIP_ERRORS as exc:
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
