"""Checkpoints users upload: parsed by aae_core.checkpoint.read_upload (the one parser), kept in memory under
their identity (sha256 of exactly the config.json and model.safetensors bytes that load), loaded through one
cache keyed by that identity, and offered in the picker as 'upload:<identity>'.

What a user sees when an upload fails says what is wrong with the file and what to do; details (paths,
torch's own messages) go to the server log only. Importing this module does not import torch."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import streamlit as st

from aae_core.errors import (
    CheckpointConfigError,
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    ShapeMismatchError,
    UnsupportedFormatError,
)
from explorer.models import device
from explorer.state import MODEL_KEY, UPLOADER_KEY

if TYPE_CHECKING:
    from aae_core.checkpoint import CheckpointFiles
    from aae_core.families import AAEModel

log = logging.getLogger(__name__)

PREFIX = "upload:"
MAX_UPLOADS = 8
WHAT_TO_DO = ("Upload a .zip of one checkpoint folder (as saved by the Train page or `python -m aae_core.train`), "
              "or its config.json and model.safetensors together.")
# What a model that does not load says to the user, by the kind of failure (the library's own text may name
# server paths; it goes to the log).
LOAD_PROBLEMS: dict[type[Exception], str] = {
    ShapeMismatchError: "its weights do not fit the model its config.json describes (were the files taken from "
                        "two different checkpoints?)",
    CorruptCheckpointError: "its model.safetensors is truncated or not a safetensors file (only safetensors "
                            "weights are read, never pickles)",
    UnsupportedFormatError: "its config.json has a format version this app cannot read; re-save it with this "
                            "version of aae_core",
    CheckpointConfigError: "its config.json is not valid JSON or does not describe a model this app knows",
    CheckpointNotFoundError: "a file of the checkpoint is missing",
}

# Uploaded checkpoints, process-wide so that the one cached loader finds their bytes: identity -> files.
_FILES: OrderedDict[str, CheckpointFiles] = OrderedDict()
_LOCK = threading.Lock()


def available() -> set[str]:
    """The identities whose bytes this process still holds."""
    with _LOCK:
        return set(_FILES)


@st.cache_resource(max_entries=MAX_UPLOADS, show_spinner="Loading the model...")
def load_upload(identity: str) -> AAEModel:
    """The model of the upload with this identity, on the app's device, in eval mode. The identity covers
    every byte that is loaded, so a cache entry can only ever be that upload's model. KeyError when the
    bytes are gone (more than MAX_UPLOADS uploads since)."""
    with _LOCK:
        files = _FILES[identity]
    return files.load(device())


def metrics_of(identity: str) -> dict:
    """The metrics.json that came with the upload of this identity ({} when none came, it is not a JSON
    object, or the bytes are gone)."""
    with _LOCK:
        files = _FILES.get(identity)
    if files is None or not files.metrics:
        return {}
    try:
        metrics = json.loads(files.metrics)
    except ValueError:
        log.info("upload %s: its metrics.json is not JSON; shown without metrics", identity[:8])
        return {}
    return metrics if isinstance(metrics, dict) else {}


def accept(files: CheckpointFiles) -> str:
    """Keep and load a parsed upload (aae_core.checkpoint.read_upload); its identity. Raises whatever loading
    raised when it does not load, and then keeps nothing."""
    identity = files.identity
    with _LOCK:
        _FILES[identity] = files
        _FILES.move_to_end(identity)
        while len(_FILES) > MAX_UPLOADS:
            _FILES.popitem(last=False)
    try:
        load_upload(identity)
    except BaseException:
        with _LOCK:
            _FILES.pop(identity, None)
        raise
    return identity


def problem_text(exc: BaseException, parsed: bool) -> str:
    """What the user reads: what is wrong with the file, then what to do. Never a path or a traceback."""
    said = str(exc)
    if isinstance(exc, CheckpointError) and (not parsed or isinstance(exc, CheckpointConfigError)) \
            and tempfile.gettempdir() not in said:
        # read_upload's messages, and a config's own faults ("hidden_dim must be <= 8192; got 100000000", with
        # CheckpointFiles.load's temporary folder already replaced), are written for the user
        what = said
    else:
        what = next((text for cls, text in LOAD_PROBLEMS.items() if isinstance(exc, cls)),
                    "the server could not build a model from it (is it far larger than a checkpoint of this app?)")
    return f"That upload is not a usable checkpoint: {what}. {WHAT_TO_DO}"


def _file_key(file) -> str:
    """A file in the uploader, by its name and content."""
    return f"{file.name}:{hashlib.sha256(file.getvalue()).hexdigest()}"


def _on_upload() -> None:
    """Callback of the uploader: load the upload once; select it, or keep one clear error message."""
    from aae_core.checkpoint import read_upload

    ss = st.session_state
    uploaded = ss.get(UPLOADER_KEY) or []
    if not isinstance(uploaded, list):
        uploaded = [uploaded]
    ss.upload_error = None
    # The box keeps every file until it is removed by hand: a file refused before must not make every later
    # upload fail too. The files added now are read first; all of them together only when those alone are no
    # checkpoint (config.json now, model.safetensors next).
    seen = ss.upload_seen
    new = [f for f in uploaded if _file_key(f) not in seen]
    seen.update(_file_key(f) for f in uploaded)
    if not new:
        return
    tries = [new] + ([uploaded] if len(new) < len(uploaded) else [])
    for i, chosen in enumerate(tries):
        named = [(f.name, f.getvalue()) for f in chosen]
        try:
            files = read_upload(named)  # bytes only; its errors are written for the user
            break
        except CheckpointError as exc:
            log.info("refused upload %s: %s", [n for n, _ in named], exc)
            if i == 0:
                first_problem = problem_text(exc, parsed=False)
    else:
        ss.upload_error = first_problem
        return
    try:
        identity = accept(files)
    except (CheckpointError, ValueError, RuntimeError, MemoryError, OSError) as exc:
        log.warning("upload %s did not load", [n for n, _ in named], exc_info=True)
        ss.upload_error = problem_text(exc, parsed=True)
        return
    ss.uploads[identity] = upload_name(named, files)
    ss[MODEL_KEY] = PREFIX + identity


def upload_name(named: list[tuple[str, bytes]], files: CheckpointFiles) -> str:
    """What the picker calls an upload: the checkpoint folder's name inside a .zip (else the .zip's own name);
    for loose files, the model's kind and the first digits of its identity ('supervised 3f2a9c1b')."""
    import io
    import zipfile
    from pathlib import PurePosixPath

    if len(named) == 1 and named[0][0].lower().endswith(".zip"):
        try:
            members = zipfile.ZipFile(io.BytesIO(named[0][1])).namelist()
        except zipfile.BadZipFile:
            members = []
        folders = {PurePosixPath(m).parts[0] for m in members if len(PurePosixPath(m).parts) == 2
                   and PurePosixPath(m).name == "config.json"}
        return folders.pop() if len(folders) == 1 else PurePosixPath(named[0][0]).stem
    try:
        kind = json.loads(files.config)["model"]["kind"]
    except (ValueError, KeyError, TypeError):
        kind = "model"
    return f"{kind} {files.identity[:8]}"


def upload_widget() -> None:
    """The uploader and, when an upload failed, one st.error line."""
    from aae_core.checkpoint import MAX_UPLOAD_BYTES

    if not st.session_state.get(UPLOADER_KEY):
        st.session_state.upload_error = None  # the failed files are gone (cleared, or the page was left)
        st.session_state.upload_seen = set()
    st.file_uploader("A .zip of a checkpoint folder, or its config.json and model.safetensors together",
                     type=["zip", "json", "safetensors"], accept_multiple_files=True, key=UPLOADER_KEY,
                     on_change=_on_upload, max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    if st.session_state.upload_error:
        st.error(st.session_state.upload_error)
