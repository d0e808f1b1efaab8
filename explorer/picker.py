"""The model picker every page shares (drawn in the sidebar by app.py) and the model it picked.

The pick is resolved once per script run, from the picker's own listing of the checkpoints (each config.json
read once): a Pick describes it without loading it (enough for the picker and a cached latent map, so a fresh
server draws a shipped model's first map before torch is imported); Current adds the loaded model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import streamlit as st

import aae_core
from aae_core.config import ModelConfig
from aae_core.errors import CheckpointError
from aae_core.prior_shapes import shape_of
from explorer import catalog, family_text, uploads
from explorer.models import load_model
from explorer.state import MODEL_KEY

if TYPE_CHECKING:
    from aae_core.families import AAEModel

DEFAULT_MODELS = ("unsupervised_gaussian_2d", "supervised_style_2d", "semi_supervised_100")
Source = Literal["shipped", "run", "upload"]
PICK_KEY, OPTIONS_KEY = "pick", "picker_options"   # this run's resolved pick (ref, Pick or error) and the listing


@dataclass(frozen=True)
class Pick:
    """The model the user picked, resolved once per script run (model_picker, in app.py's sidebar) and read by
    the pages: where it comes from, its ref (the picker's value: a checkpoint folder's path, or an upload's
    'upload:<identity>'), its name, the fingerprint of its weights (the key of its cached maps and of a clicked
    point) and, for a folder, what its JSON files say (info; the weights are not loaded: enough for the picker
    and a cached map, so a fresh server draws a shipped model's first map before torch is imported)."""

    source: Source
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
        if family_text.of(stored.get("kind")).pulled_by == "learned":   # matched to a learned F(z), not N(0, σ² I)
            return None
        return float(stored.get("prior_std", 1.0)) if shape_of(stored.get("prior", "gaussian")).has_std else None

    @property
    def metrics(self) -> dict:
        """metrics.json of the checkpoint, or of the upload ({} when it was not evaluated or came without one)."""
        if self.source == "upload":
            return uploads.metrics_of(self.fingerprint)
        return (self.info.metrics if self.info is not None else None) or {}

    @property
    def family(self) -> type[AAEModel]:
        return aae_core.families.get_family(self.config.kind)   # torch: the families load on first ask

    @property
    def words(self) -> family_text.FamilyText:
        """How the app shows the family (summary, explanation, map note, ...): read from the kind, torch-free."""
        return family_text.of(self.config.kind)

    @property
    def description(self) -> str:
        return catalog.describe_config(self.config)


@dataclass(frozen=True)
class Current(Pick):
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


def _resolve(ref: str, info: catalog.CheckpointInfo | None = None) -> Pick | str:
    """The Pick of `ref` (an upload of this user, loaded already; or a checkpoint folder, described by `info`
    when the listing has read it, else read now), or the one line saying why it cannot be had."""
    try:
        if ref.startswith(uploads.PREFIX):
            identity = ref[len(uploads.PREFIX):]
            name = st.session_state.uploads.get(identity, "upload")
            return Current("upload", ref, f"upload {name}", identity, None, None, uploads.load_upload(identity))
        if info is None:
            shipped = Path(ref).is_relative_to(catalog.checkpoints_dir().resolve())
            info = catalog.read_info(ref, "shipped" if shipped else "run")
        return Pick(info.source, ref, info.path.name, catalog.weights_fingerprint(ref), info.path, info)
    except (CheckpointError, KeyError, OSError) as exc:
        return f"Could not load the model {ref}: {exc}"


def model_picker() -> None:
    """The picker: shipped checkpoints, this server's runs (yours marked), and your uploads. Resolves the pick
    for this run (the pages read it: current_ref, current_model)."""
    refs, labels, by_ref = _options()
    ss = st.session_state
    ss[OPTIONS_KEY] = refs, labels, by_ref
    if ss.get(MODEL_KEY) not in refs:
        ss[MODEL_KEY] = _default_ref(refs, by_ref)
    if not refs:
        ss[PICK_KEY] = None
        st.sidebar.warning("No models yet: train one on the Train page or upload one on Home.")
        return
    st.sidebar.selectbox("Model", refs, key=MODEL_KEY, format_func=lambda r: labels.get(r, r),
                         help="Used by every page. Shipped models, runs trained here, and uploads.")
    ref = ss[MODEL_KEY]
    ss[PICK_KEY] = ref, _resolve(ref, by_ref.get(ref))
    # the box cuts long names: the whole name on its own line, wrapped (what describe_pick adds goes below)
    st.sidebar.markdown(f"**{labels.get(ref, ref)}**")


def _held() -> Pick | str | None:
    """The pick of this run: resolved by model_picker, or now when the pick changed since (a page picked a model,
    or a page ran without app.py); None when there is none."""
    ss = st.session_state
    ref = ss.get(MODEL_KEY)
    if not ref:
        return None
    held = ss.get(PICK_KEY)
    if held is None or held[0] != ref:
        held = ss[PICK_KEY] = ref, _resolve(ref)
    return held[1]


def quiet_pick() -> Pick | None:
    """The pick of this run, or None (no model, or one that cannot be read: the page has said so)."""
    found = _held()
    return found if isinstance(found, Pick) else None


def describe_pick(slot) -> None:
    """Write the picked model's one-line description into `slot` (app.py calls this after the page, so that
    a shipped model's first map is drawn before the family's description imports torch)."""
    pick = quiet_pick()
    if pick is None or pick.info is None:
        return
    try:
        slot.caption(catalog.describe_config(pick.info.config))
    except CheckpointError:
        pass  # the page has said what is wrong with the pick


def _load(pick: Pick) -> Current | None:
    """The pick with its model, loaded through the process's caches; None with one st.error line when it fails."""
    if isinstance(pick, Current):
        return pick
    try:
        model = load_model(pick.ref, str(pick.info.mtime_ns))
    except (CheckpointError, OSError) as exc:
        st.error(f"Could not load the model {pick.ref}: {exc}")
        return None
    return Current(**{f.name: getattr(pick, f.name) for f in fields(Pick)}, model=model)


def current_ref() -> Pick | None:
    """The picked model's description, read without loading it; None when there is none (or one st.error
    line when it cannot be read)."""
    found = _held()
    if isinstance(found, str):
        st.error(found)
        return None
    return found


def current_model() -> Current | None:
    """The picked model, loaded (cached per process; kept for the rest of this run); None when there is none or
    it fails to load."""
    pick = current_ref()
    if pick is None or isinstance(pick, Current):
        return pick
    cur = _load(pick)
    if cur is not None:
        st.session_state[PICK_KEY] = pick.ref, cur
    return cur


def _require(found):
    if found is None:
        st.warning("Pick a model in the sidebar first (or train one on the Train page, or upload one on Home).")
        st.stop()
    return found


def require_ref() -> Pick:
    """The picked model's description, or a note and the end of this page's run."""
    return _require(current_ref())


def require_model() -> Current:
    """The picked model, loaded, or a note and the end of this page's run."""
    return _require(current_model())


def require_loaded(pick: Pick) -> Current:
    """`pick` with its model loaded, or a line saying why not and the end of this run (a fragment's: it reads
    the pick it was given, not the session's picker)."""
    cur = _load(pick)
    if cur is None:
        st.stop()
    return cur


# --- any model by its ref (the Compare page picks two at once) ----------------------------------------
def choices() -> tuple[list[str], dict[str, str]]:
    """The refs the sidebar's picker offers, in its order, and their labels (as listed in this run)."""
    listed = st.session_state.get(OPTIONS_KEY)
    refs, labels, _ = listed if listed is not None else _options()
    return refs, labels


def model_at(ref: str) -> Current | None:
    """The model of `ref` (one of choices()), loaded through the process's caches; None with one st.error line
    when it cannot be had."""
    if ref == st.session_state.get(MODEL_KEY):
        return current_model()
    listed = st.session_state.get(OPTIONS_KEY)
    found = _resolve(ref, listed[2].get(ref) if listed is not None else None)
    if isinstance(found, str):
        st.error(found)
        return None
    return _load(found)
