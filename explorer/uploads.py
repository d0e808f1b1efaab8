"""Checkpoints users upload: parsed by aae_core.uploads.read_upload (the one parser), kept in memory under
their identity (sha256 of exactly the config.json and model.safetensors bytes that load), loaded through one
cache keyed by that identity, and offered in the picker as 'upload:<identity>'.

What a user sees when an upload fails says what is wrong with the file and what to do; details (paths,
torch's own messages) go to the server log only. Importing this module does not import torch."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import streamlit as st

import aae_core
from aae_core.checkpoint_meta import MAX_UPLOAD_BYTES
from aae_core.errors import (
    CheckpointConfigError,
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    ShapeMismatchError,
    UnsupportedFormatError,
)
from explorer import umap_worker
from explorer.models import device
from explorer.state import MODEL_KEY, UPLOADER_KEY, user_key

if TYPE_CHECKING:
    from aae_core.families import AAEModel
    from aae_core.uploads import CheckpointFiles

log = logging.getLogger(__name__)

PREFIX = "upload:"
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

MAX_PER_USER = 4                 # a user's uploads kept at once: their own oldest goes first, with a word
MAX_HELD_BYTES = 512 * 2**20     # all uploads' bytes together (8 of the largest, hundreds of typical ones)


class UploadStore:
    """Uploaded checkpoints' bytes, process-wide so that the one cached loader finds them, kept per user:
    identity -> files, and for each user the identities they uploaded, oldest first. A user's uploads are
    pushed out only by their own (past MAX_PER_USER), or, when all uploads together pass max_bytes, the least
    recently uploaded anyone's; bytes that two users uploaded are held once, until both let go.
    Plain Python (no Streamlit calls), shared by all sessions."""

    def __init__(self, max_per_user: int = MAX_PER_USER, max_bytes: int = MAX_HELD_BYTES) -> None:
        self.max_per_user, self.max_bytes = max_per_user, max_bytes
        self._lock = threading.Lock()
        self._files: OrderedDict[str, CheckpointFiles] = OrderedDict()   # least recently uploaded first
        self._users: dict[str, OrderedDict[str, None]] = {}

    def accept(self, files: CheckpointFiles, user: str) -> tuple[str, list[str]]:
        """Keep `files` for `user`: (its identity, the user's own uploads this pushed out)."""
        identity = files.identity
        with self._lock:
            self._files[identity] = files
            self._files.move_to_end(identity)
            mine = self._users.setdefault(user, OrderedDict())
            mine[identity] = None
            mine.move_to_end(identity)
            dropped = []
            while len(mine) > self.max_per_user:
                dropped.append(mine.popitem(last=False)[0])
            for old in dropped:
                self._free_if_unheld(old)
            while self._bytes() > self.max_bytes and len(self._files) > 1:
                old = next(iter(self._files))
                for ids in self._users.values():
                    ids.pop(old, None)
                self._files.pop(old)
            return identity, dropped

    def release(self, identity: str, user: str) -> None:
        """`user` lets go of an upload (it did not load); its bytes go when no one else holds them."""
        with self._lock:
            self._users.get(user, {}).pop(identity, None)
            self._free_if_unheld(identity)

    def held(self, user: str) -> set[str]:
        with self._lock:
            return set(self._users.get(user, ()))

    def get(self, identity: str) -> CheckpointFiles:
        """The bytes of an upload; KeyError when no user holds it any more."""
        with self._lock:
            return self._files[identity]

    def held_bytes(self) -> int:
        with self._lock:
            return self._bytes()

    def _bytes(self) -> int:
        return sum(len(f.config) + len(f.weights) + len(f.metrics or b"") for f in self._files.values())

    def _free_if_unheld(self, identity: str) -> None:
        if not any(identity in ids for ids in self._users.values()):
            self._files.pop(identity, None)


STORE = UploadStore()


def available(user: str) -> set[str]:
    """The identities of this user's uploads that this process still holds."""
    return STORE.held(user)


def forget_gone(names: dict[str, str], held: set[str]) -> list[str]:
    """Drop from a user's uploads (identity -> name) those the server no longer holds; their names."""
    gone = [identity for identity in names if identity not in held]
    return [names.pop(identity) for identity in gone]


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def load_upload(identity: str) -> AAEModel:
    """The model of the upload with this identity, on the app's device, in eval mode. The identity covers
    every byte that is loaded, so a cache entry can only ever be that upload's model. KeyError when no user
    holds its bytes any more."""
    return STORE.get(identity).load(device())


def metrics_of(identity: str) -> dict:
    """The metrics.json that came with the upload of this identity ({} when none came, it is not a JSON
    object, or the bytes are gone)."""
    try:
        files = STORE.get(identity)
    except KeyError:
        return {}
    if not files.metrics:
        return {}
    try:
        metrics = json.loads(files.metrics)
    except ValueError:
        log.info("upload %s: its metrics.json is not JSON; shown without metrics", identity[:8])
        return {}
    return metrics if isinstance(metrics, dict) else {}


def accept(files: CheckpointFiles, user: str) -> tuple[str, list[str]]:
    """Keep and load a parsed upload (aae_core.uploads.read_upload) for `user`: its identity, and the user's
    own earlier uploads that this pushed out. Raises whatever loading raised when it does not load, and then
    keeps nothing for the user."""
    identity, dropped = STORE.accept(files, user)
    try:
        model = load_upload(identity)
    except BaseException:
        STORE.release(identity, user)
        raise
    umap_worker.head_start(model.config.latent_dim, f"upload {identity[:8]}")   # its map will need UMAP
    return identity, dropped


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
            files = aae_core.uploads.read_upload(named)  # bytes only; its errors are written for the user
            break
        except Exception as exc:  # noqa: BLE001 - anything but a CheckpointError is a bug: one line here, all in the log
            log.info("refused upload %s: %s", [n for n, _ in named], exc,
                     exc_info=not isinstance(exc, CheckpointError))
            if i == 0:
                first_problem = problem_text(exc, parsed=False)
    else:
        ss.upload_error = first_problem
        return
    try:
        identity, dropped = accept(files, user_key())
    except Exception as exc:  # noqa: BLE001 - the user reads one line; the log has the traceback
        log.warning("upload %s did not load", [n for n, _ in named], exc_info=True)
        ss.upload_error = problem_text(exc, parsed=True)
        return
    gone = [ss.uploads.pop(old) for old in dropped if old in ss.uploads]
    if gone:
        ss.upload_notice = (f"{', '.join(gone)} left your uploads: the server keeps your {MAX_PER_USER} latest. "
                            "Upload it again to use it.")
    ss.uploads[identity] = upload_name(named, files)
    ss[MODEL_KEY] = PREFIX + identity


def upload_name(named: list[tuple[str, bytes]], files: CheckpointFiles) -> str:
    """What the picker calls an upload: the checkpoint folder's name inside a .zip (else the .zip's own name);
    for loose files, the model's kind and the first digits of its identity ('supervised 3f2a9c1b')."""
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
    if not st.session_state.get(UPLOADER_KEY):
        st.session_state.upload_error = None  # the failed files are gone (cleared, or the page was left)
        st.session_state.upload_seen = set()
    st.file_uploader("A .zip of a checkpoint folder, or its config.json and model.safetensors together",
                     type=["zip", "json", "safetensors"], accept_multiple_files=True, key=UPLOADER_KEY,
                     on_change=_on_upload, max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    if st.session_state.upload_error:
        st.error(st.session_state.upload_error)
    if st.session_state.get("upload_notice"):
        st.warning(st.session_state.pop("upload_notice"), icon=":material/info:")
