"""Small widgets the pages share: the clicked map point, the class selector, the point picker, rows of
images, and the sidebar's training badge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

import aae_core
from aae_core.images import tile, upscale
from explorer import exports, selection
from explorer.models import test_set
from explorer.selection import MapClick, Selection
from explorer.state import presenting, user_job

if TYPE_CHECKING:
    from aae_core.explore import LatentPoint
    from aae_core.projection import LatentMap
    from explorer.picker import Current, Pick
    from explorer.runs import TrainingJob


# --- points the user picks ------------------------------------------------------------------------
def remember_click(cur: Pick, lmap: LatentMap, click: MapClick) -> None:
    """Make a click on the map `lmap` of the picked model the selected point (what every page's point picker
    offers). A click that names nothing on this map (an index past it, a forged source) is ignored."""
    placed = selection.place(click, lmap, cur.ref, cur.fingerprint)
    if placed is not None:
        st.session_state.selected = placed


def selected_point(cur: Pick) -> Selection | None:
    """The last clicked point if it belongs to this model."""
    sel = st.session_state.get("selected")
    return sel if isinstance(sel, Selection) and sel.fingerprint == cur.fingerprint else None


def slider_point(cur: Pick) -> list[float] | None:
    """The decoder sliders' code if it belongs to this model."""
    sz = st.session_state.get("slider_z")
    return sz["z"] if sz and sz.get("fingerprint") == cur.fingerprint else None


def class_noun(cur: Pick) -> str:
    """What the model's class code means: 'class' or 'cluster' (the family's word)."""
    return cur.family.classes.noun or "class"


def drawn_image() -> np.ndarray | None:
    """The digit drawn on the Draw page (uint8 [28, 28], prepared as MNIST was), if any: any model can
    encode it, so it is a point source on every page that picks points."""
    drawn = st.session_state.get("drawn_digit")
    return None if drawn is None else np.asarray(drawn, dtype=np.uint8)


def class_selector(cur: Pick, key: str, label: str | None = None, default: int | None = 0) -> int | None:
    """A row of class (or cluster) buttons, 0..n_classes-1, for models whose decoder takes a class code.
    default None: none is picked until the user picks one (then None is returned)."""
    k = cur.config.n_classes
    picked = st.radio(label or f"{class_noun(cur).capitalize()} code y (0-{k - 1})", list(range(k)),
                      index=None if default is None else min(default, k - 1), horizontal=True, key=key)
    return None if picked is None else int(picked)


def point_class(cur: Current, sel: Selection | None) -> int | None:
    """The class code a clicked point decodes best with: a test image's label where the class code means the
    label and the model has no classifier of its own (supervised), else the class (or cluster) the model
    predicts for the image (semi-supervised, clustering). None for prior samples, empty spots and models
    without a class code."""
    if sel is None or sel.source != "encoded" or not cur.family.classes:
        return None
    test = test_set(cur.config.dataset)
    if test is None or not 0 <= sel.index < len(test):
        return None
    image = test.images[sel.index].cpu().numpy()
    if cur.family.classes.predicted:
        return int(aae_core.explore.class_probabilities(cur.model, image[None])[0].argmax())
    if cur.family.classes.means_label:
        return int(test.labels[sel.index])
    return None


def point_picker(cur: Current, key: str, label: str, *, default_source: int = 0,
                 default_index: int = 0, default_seed: int = 0) -> LatentPoint | None:
    """Choose a point in latent space: a test image, the clicked map point, a prior sample, the sliders, or the
    digit drawn on the Draw page.
    Returns it with its class code where it has one (test images; the clicked test point)."""
    explore = aae_core.explore      # torch: this picker computes codes
    sources = ["Test image", "Prior sample"]
    sel, sz = selected_point(cur), slider_point(cur)
    if sel:
        sources.append("Clicked map point")
    if sz:
        sources.append("Decoder sliders")
    drawn = drawn_image()
    if drawn is not None:
        sources.append("Drawn digit")
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
        if sel.source == "encoded":
            test = test_set(cur.config.dataset)
            if test is not None and sel.index < len(test):
                return explore.point_from_test(cur.model, test, sel.index)
        return explore.LatentPoint(z=sel.code, description=f"clicked {sel.source} point")
    if source == "Drawn digit":
        return explore.point_from_image(cur.model, drawn, "your drawn digit")
    return explore.LatentPoint(z=np.asarray(sz, np.float32), description="the decoder sliders' code")


PRESENTATION_GROWTH = 1.5   # images and strips in presentation mode, for the back of a lecture hall


def show_images(images: np.ndarray, captions: list[str] | None = None, *, width: int = 64, scale: int = 3) -> None:
    """A row of uint8 images [N, 28, 28], upscaled with crisp pixels (larger in presentation mode)."""
    if presenting():
        width, scale = round(width * PRESENTATION_GROWTH), round(scale * PRESENTATION_GROWTH)
    st.image([upscale(im, scale) for im in images], caption=captions, width=width)


def image_strip(images: np.ndarray, caption: str, *, scale: int = 3, file_name: str | None = None,
                key: str | None = None) -> np.ndarray:
    """uint8 images [K, 28, 28] as one tiled strip (one st.image: it never wraps onto a second line), and,
    given file_name, a button that downloads the strip as a PNG. Returns the strip [H, W]."""
    if presenting():
        scale = round(scale * PRESENTATION_GROWTH)
    strip = upscale(tile(images[None], pad=2, fill=255), scale)
    st.image(strip, caption=caption, width="stretch" if len(images) > 8 else "content")
    if file_name:
        st.download_button("PNG", exports.png_bytes(strip), file_name=file_name, mime="image/png",
                           icon=":material/download:", on_click="ignore", key=key)
    return strip


# --- this user's training run, on every page --------------------------------------------------------
def training_badge() -> None:
    """In the sidebar, on every page: this user's run in progress, polled every 2 s. When it ends, the whole
    app reruns once, so its checkpoint shows up in the model picker wherever the user is."""
    job = user_job()
    if job is not None and not job.status().done:
        _badge(job)


@st.fragment(run_every=2.0)
def _badge(job: TrainingJob) -> None:
    s = job.status()
    if s.done:
        st.rerun()
    if s.state == "queued":
        st.progress(0.0, text=f"{s.out.name} waits for a trainer: number {s.queue_position} in the queue")
    else:
        st.progress(s.progress, text=f"Training {s.out.name}: {s.progress:.0%}")
    st.page_link("explorer/pages/train.py", label="Watch it on the Train page", icon=":material/monitoring:")
