"""The model picker every page shares (drawn in the sidebar by app.py) and the model it picked.

A ModelRef describes the pick without loading it (enough for the picker and a cached latent map, so a fresh
server draws a shipped model's first map before torch is imported); Current adds the loaded model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from aae_core.config import LEARNED_PRIOR_KINDS, ModelConfig
from aae_core.errors import CheckpointError
from explorer import catalog, uploads
from explorer.models import load_model
from explorer.state import MODEL_KEY

if TYPE_CHECKING:
    from aae_core.families import AAEModel

DEFAULT_MODELS = ("unsupervised_gaussian_2d", "supervised_style_2d", "semi_supervised_100")


@dataclass(frozen=True)
class ModelRef:
    """The model the user picked, without its weights: enough for the picker and a cached map."""

    ref: str
    name: str
    fingerprint: str
    folder: Path | None          # None for uploads (their maps go to the user cache)
    info: catalog.CheckpointInfo | None

    @property
    def config(self) -> ModelConfig:
        """The checked config (asks the model family, so it imports torch on first use)."""
        return self.info.config if self.info is not None else self.model.config

    @property
    def latent_dim(self) -> int:
        """The latent size, read without building the config (what the first map needs)."""
        return self.info.latent_dim if self.info is not None else self.model.config.latent_dim

    @property
    def stored_model(self) -> dict:
        """config.json's description of the model as stored, read without building the config (no torch)."""
        return dict(self.info.model) if self.info is not None else asdict(self.model.config)

    @property
    def gaussian_std(self) -> float | None:
        """σ of the Gaussian prior N(0, σ² I) on z, where the prior of z is Gaussian (read without torch)."""
        stored = self.stored_model
        if stored.get("kind") in LEARNED_PRIOR_KINDS:       # matched to a learned F(z), not to N(0, σ² I)
            return None
        return float(stored.get("prior_std", 1.0)) if stored.get("prior", "gaussian") == "gaussian" else None

    @property
    def metrics(self) -> dict:
        """metrics.json of the checkpoint, or of the upload ({} when it was not evaluated or came without one)."""
        if self.ref.startswith(uploads.PREFIX):
            return uploads.metrics_of(self.ref[len(uploads.PREFIX):])
        return (self.info.metrics if self.info is not None else None) or {}

    @property
    def family(self) -> type[AAEModel]:
        return self.config.family

    @property
    def description(self) -> str:
        return catalog.describe_config(self.config)


@dataclass(frozen=True)
class Current(ModelRef):
    """The picked model, loaded."""

    model: AAEModel


def _options() -> tuple[list[str], dict[str, str], dict[str, catalog.CheckpointInfo]]:
    infos = catalog.list_checkpoints()
    by_ref = {i.ref: i for i in infos}
    me = st.session_state.get("user_key")
    labels = {}
    for i in infos:
        where = "your run" if i.source == "run" and i.owner == me else ("run" if i.source == "run" else "shipped")
        labels[i.ref] = f"{i.name} · {where}"
    refs = [i.ref for i in infos]
    held = uploads.available(me)
    gone = uploads.forget_gone(st.session_state.uploads, held)
    if gone:   # pushed out by the server's bound on all uploads together
        st.sidebar.warning(f"{', '.join(gone)} is no longer on the server (it holds a bounded number of uploads "
                           "for everyone, oldest first): upload it again to use it.", icon=":material/info:")
    for identity, name in st.session_state.uploads.items():
        if identity in held:
            refs.append(uploads.PREFIX + identity)
            labels[uploads.PREFIX + identity] = f"{name} · uploaded"
    return refs, labels, by_ref


def _default_ref(refs: list[str], by_ref: dict[str, catalog.CheckpointInfo]) -> str | None:
    for name in DEFAULT_MODELS:
        for ref in refs:
            info = by_ref.get(ref)
            if info is not None and info.source == "shipped" and info.name == name:
                return ref
    return refs[0] if refs else None


def model_picker() -> None:
    """The picker: shipped checkpoints, this server's runs (yours marked), and your uploads."""
    refs, labels, by_ref = _options()
    ss = st.session_state
    if ss.get(MODEL_KEY) not in refs:
        ss[MODEL_KEY] = _default_ref(refs, by_ref)
    if not refs:
        st.sidebar.warning("No models yet: train one on the Train page or upload one on Home.")
        return
    st.sidebar.selectbox("Model", refs, key=MODEL_KEY, format_func=lambda r: labels.get(r, r),
                         help="Used by every page. Shipped models, runs trained here, and uploads.")
    # the box cuts long names: the whole name on its own line, wrapped (what describe_pick adds goes below)
    st.sidebar.markdown(f"**{labels.get(ss[MODEL_KEY], ss[MODEL_KEY])}**")


def describe_pick(slot) -> None:
    """Write the picked model's one-line description into `slot` (app.py calls this after the page, so that
    a shipped model's first map is drawn before the family's description imports torch)."""
    ref = st.session_state.get(MODEL_KEY)
    if not ref or ref.startswith(uploads.PREFIX):
        return
    try:
        shipped = Path(ref).is_relative_to(catalog.checkpoints_dir().resolve())
        slot.caption(catalog.describe_config(catalog.read_info(ref, "shipped" if shipped else "run").config))
    except (CheckpointError, OSError):
        pass  # the page has said what is wrong with the pick


def ref_at(ref: str) -> ModelRef | None:
    """The model of `ref` (a checkpoint folder, or an upload of this user) described without loading it (an
    upload is loaded already); None with one st.error line when it cannot be read."""
    try:
        if ref.startswith(uploads.PREFIX):
            identity = ref[len(uploads.PREFIX):]
            name = st.session_state.uploads.get(identity, "upload")
            return Current(ref, f"upload {name}", identity, None, None, uploads.load_upload(identity))
        shipped = Path(ref).is_relative_to(catalog.checkpoints_dir().resolve())
        info = catalog.read_info(ref, "shipped" if shipped else "run")
        return ModelRef(ref, info.name, catalog.weights_fingerprint(ref), Path(ref), info)
    except (CheckpointError, KeyError, OSError) as exc:
        st.error(f"Could not load the model {ref}: {exc}")
        return None


def model_at(ref: str) -> Current | None:
    """The model of `ref`, loaded through the process's caches; None with one st.error line when it fails."""
    light = ref_at(ref)
    if light is None or isinstance(light, Current):
        return light
    try:
        model = load_model(light.ref, str(light.info.mtime_ns))
    except (CheckpointError, OSError) as exc:
        st.error(f"Could not load the model {light.ref}: {exc}")
        return None
    return Current(**{f.name: getattr(light, f.name) for f in fields(ModelRef)}, model=model)


def current_ref() -> ModelRef | None:
    """The picked model's description, read without loading it; None when there is none (or one st.error
    line when it cannot be read)."""
    ref = st.session_state.get(MODEL_KEY)
    return ref_at(ref) if ref else None


def current_model() -> Current | None:
    """The picked model, loaded (cached per process); None when there is none or it fails to load."""
    ref = st.session_state.get(MODEL_KEY)
    return model_at(ref) if ref else None


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


# --- any model by its ref (the Compare page picks two at once) ----------------------------------------
def choices() -> tuple[list[str], dict[str, str]]:
    """The refs the sidebar's picker offers, in its order, and their labels."""
    refs, labels, _ = _options()
    return refs, labels
