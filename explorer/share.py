"""The view in the URL: which model, which clicked point, presentation mode (the page is the URL's path), next
to the session's own ?user= token. A link on a slide then opens the same view for every student; the sidebar's
"Share this view" link leaves the token out, so that nobody who follows it takes over the lecturer's runs.

    /latent_map?model=unsupervised_gaussian_2d&point=encoded:17&present=1

Read once, when a browser session starts (a reload, or a link followed); written after every run. Torch-free."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from explorer import catalog, widgets
from explorer.selection import ENCODED, GRID, PRIOR, MapClick, Selection
from explorer.state import MODEL_KEY, PRESENTATION_KEY

if TYPE_CHECKING:
    from aae_core.projection import LatentMap
    from explorer.picker import Pick

MODEL, POINT, PRESENT, USER = "model", "point", "present", "user"
FRAGMENT = "share_view"          # the sidebar's link and the URL: a click on the latent map reruns it alone
PENDING_POINT = "url_point"      # (ref, text): a point named by the URL, placed once its model's map is at hand
_POINT = re.compile(r"(encoded|prior):(\d{1,7})|space:(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")


def parse_point(text: object) -> MapClick | None:
    """'encoded:17' (a test image), 'prior:3' (a prior sample) or 'space:1.25,-0.5' (a spot of a 2-D latent) ->
    the click on the map that names it; None for anything else."""
    m = _POINT.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    if m.group(1):
        return MapClick(ENCODED if m.group(1) == "encoded" else PRIOR, int(m.group(2)))
    return MapClick(GRID, None, float(m.group(3)), float(m.group(4)))


def point_text(sel: Selection) -> str | None:
    """The URL's form of a picked point (what parse_point reads); None for points no link can name (drawn)."""
    if sel.source in ("encoded", "prior"):
        return f"{sel.source}:{sel.index}"
    if sel.source == "space" and len(sel.z) == 2:
        return "space:{:.4g},{:.4g}".format(*sel.z)
    return None


def _roots() -> list[Path]:
    return [catalog.checkpoints_dir().resolve(), catalog.runs_dir().resolve()]


def _ref_named(name: str) -> str | None:
    """The checkpoint folder a link names (its path under the shipped checkpoints, else under the runs); None
    for a name that leaves those folders or is no checkpoint."""
    refs = {i.ref for i in catalog.list_checkpoints()}
    for root in _roots():
        folder = (root / name).resolve()
        if folder.is_relative_to(root) and str(folder) in refs:
            return str(folder)
    return None


def _name_of(pick: Pick | None) -> str | None:
    """What a link calls the picked checkpoint folder: its path under its root (None for uploads: this
    session's own)."""
    if pick is None or pick.folder is None:
        return None
    for root in _roots():
        if pick.folder.is_relative_to(root):
            return pick.folder.relative_to(root).as_posix()
    return None


def restore() -> None:
    """Take model, point and presentation mode from the URL (once, when the browser session starts)."""
    ss, params = st.session_state, st.query_params
    if params.get(PRESENT) == "1":
        ss[PRESENTATION_KEY] = True
    ref = _ref_named(params.get(MODEL, "")) if params.get(MODEL) else None
    if ref is not None:
        ss[MODEL_KEY] = ref
        if parse_point(params.get(POINT)) is not None:
            ss[PENDING_POINT] = (ref, params.get(POINT))


def view_params(pick: Pick | None) -> dict[str, str]:
    """The shareable part of the current view: model (by name), clicked point, presentation mode. An upload is
    this session's alone: a link cannot name it."""
    ss = st.session_state
    out: dict[str, str] = {}
    name = _name_of(pick)
    if name is not None:
        out[MODEL] = name
        sel, pending = ss.get("selected"), ss.get(PENDING_POINT)
        if isinstance(sel, Selection) and sel.ref == pick.ref:
            text = point_text(sel)
        else:
            text = pending[1] if pending and pending[0] == pick.ref else None
        if text:
            out[POINT] = text
    if ss.get(PRESENTATION_KEY):
        out[PRESENT] = "1"
    return out


def write(wanted: dict[str, str]) -> None:
    """Bring the URL's view parameters up to `wanted` (view_params(); the session token is state.user_key's)."""
    params = st.query_params
    for key in (MODEL, POINT, PRESENT):
        if key in wanted and params.get(key) != wanted[key]:
            params[key] = wanted[key]
        elif key not in wanted and key in params:
            del params[key]


def share_link(url: str | None, params: dict[str, str]) -> str:
    """The address of this view without the session token: `url` (this page's, as the browser has it) with
    only the view's parameters."""
    parts = urlsplit(url or "")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))


def place_pending(pick: Pick, lmap: LatentMap) -> None:
    """Make the point a link named the clicked point, once the map of its model is drawn (the latent map; a
    point that is not on this map is dropped)."""
    pending = st.session_state.get(PENDING_POINT)
    if not pending or pending[0] != pick.ref:
        return
    widgets.remember_click(pick, lmap, parse_point(pending[1]))
    del st.session_state[PENDING_POINT]


def share_box(page_path: str, params: dict[str, str]) -> None:
    """The sidebar's "Share this view": a link to this page and view that anyone can open (no ?user=)."""
    parts = urlsplit(st.context.url or "")
    root = "/" + st.get_option("server.baseUrlPath").strip("/") if st.get_option("server.baseUrlPath") else ""
    page = f"{root}/{page_path}" if page_path else root + "/"
    link = share_link(urlunsplit((parts.scheme, parts.netloc, page, "", "")), params)
    with st.expander("Share this view", icon=":material/share:"):
        st.code(link, language=None, wrap_lines=True)
        st.caption("This page, model, clicked point and presentation mode, for a slide or a chat. It leaves out "
                   "your own ?user= token, so whoever opens it gets a session of their own.")


@st.fragment(key=FRAGMENT)
def view_box(pick: Pick | None, page_path: str) -> None:
    """After every run: the view in the URL (a click, a pick) beside ?user=, and the sidebar's "Share this view"
    (app.py). A fragment, so that a click on the latent map brings both up to date without a whole rerun."""
    view = view_params(pick)
    write(view)
    share_box(page_path, view)
