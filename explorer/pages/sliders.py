"""Decoder sliders: one slider per latent dimension; the decoded image follows as you drag."""

import time

import numpy as np
import streamlit as st

from aae_core import explore
from explorer import map_view, models, picker, state, widgets

MAX_SLIDERS = 16

cur = picker.require_model()
st.title("Decoder sliders")
state.explain(
    "Each slider sets one coordinate of the code z, and the decoder turns the whole code into the image "
    "on the right. Dragging one slider walks along one latent direction: in a well-regularised model the "
    "image changes smoothly (stroke width, slant, or the digit itself), which is what matching the codes to "
    f"{cur.words.prior_words} bought us.")

model, d = cur.model, cur.config.latent_dim
n_sliders = min(d, MAX_SLIDERS)
prefix = f"slider_{cur.fingerprint[:10]}"
browser = map_view.in_browser()
base_key = f"{prefix}_base"


@st.cache_resource(max_entries=16, show_spinner=False)
def ranges(fingerprint: str, _model) -> tuple[np.ndarray, np.ndarray]:
    return explore.slider_ranges(_model)


lo, hi = ranges(cur.fingerprint, model)


def set_start(z, cls: int | None = None) -> None:
    """Put the sliders (and the held dimensions) at z, and the class selector at cls when given."""
    z = np.asarray(z, dtype=np.float32).reshape(d)
    st.session_state[base_key] = z.copy()
    for i in range(n_sliders):
        st.session_state[f"{prefix}_{i}"] = float(np.clip(z[i], lo[i], hi[i]))
    if cls is not None and cur.family.classes:
        st.session_state[f"{prefix}_class"] = int(cls)


sel = widgets.selected_point(cur)
# A clicked test image decodes as itself only with its own class: its label (supervised) or the class the
# model reads in it (semi-supervised, clustering); prior samples and empty spots keep the current class.
sel_class = widgets.point_class(cur, sel)
if f"{prefix}_0" not in st.session_state:  # first visit for this model: continue where we were, else start
    if widgets.slider_point(cur):
        set_start(widgets.slider_point(cur), st.session_state.slider_z.get("y"))
    else:
        set_start(sel.code if sel else np.zeros(d), sel_class)

b1, b2, b3, _ = st.columns([1.3, 1.3, 1, 2])
b1.button("Start from the clicked point", on_click=set_start, args=(sel.code if sel else None, sel_class),
          disabled=sel is None, key="start_clicked",
          help="The point last clicked on the Latent map page (a test image brings its class along).")


def random_start() -> None:
    st.session_state.slider_seed = st.session_state.get("slider_seed", 0) + 1
    set_start(explore.prior_samples(model, 1, st.session_state.slider_seed)[0])


b2.button("Random prior sample", on_click=random_start, key="start_prior")
b3.button("Zero", on_click=set_start, args=(np.zeros(d),), key="start_zero")


@st.fragment
def sliders_and_image() -> None:
    """Only this part reruns when a slider moves."""
    left, right = st.columns([3, 2], gap="large")
    if browser:  # the sliders and their image in the browser, which decodes while they are dragged
        with left:
            z_shown = np.array(st.session_state[base_key], dtype=np.float32)
            z_shown[:n_sliders] = [st.session_state[f"{prefix}_{i}"] for i in range(n_sliders)]
            moved = map_view.browser_sliders(cur, z_shown, lo, hi, n_sliders, key=f"{prefix}_browser",
                                             class_code=st.session_state.get(f"{prefix}_class"))
        if moved is not None:
            for i in range(n_sliders):
                st.session_state[f"{prefix}_{i}"] = float(moved[0][i])
            if moved[1] is not None:
                st.session_state[f"{prefix}_class"] = int(moved[1])
    with left:
        cols = st.columns(2 if n_sliders > 4 else 1)
        per_col = -(-n_sliders // len(cols))
        for i in range(n_sliders if not browser else 0):
            step = float(max((hi[i] - lo[i]) / 200, 1e-3))
            cols[i // per_col].slider(f"z{i + 1}", float(lo[i]), float(hi[i]), step=step, format="%.2f",
                                       key=f"{prefix}_{i}")
        if d > MAX_SLIDERS:
            st.caption(f"Dimensions {MAX_SLIDERS + 1}-{d} are held at their starting values.")
    t0 = time.perf_counter()
    z = np.array(st.session_state[base_key], dtype=np.float32)
    z[:n_sliders] = [st.session_state[f"{prefix}_{i}"] for i in range(n_sliders)]
    with right:
        y = None
        if cur.family.classes:
            y = [st.session_state.get(f"{prefix}_class", 0) if browser
                 else widgets.class_selector(cur, f"{prefix}_class")]
    # kept across pages (widget state is not): the code and its class, for the next visit and the other pages
    st.session_state.slider_z = {"fingerprint": cur.fingerprint, "z": [float(v) for v in z], "y": y[0] if y else None}
    if not browser:  # (in a browser, the component draws the decoded image itself)
        with right:
            image = explore.decode(model, z[None], y)[0]
            noun = widgets.class_noun(cur)
            widgets.show_images(image[None], ["Decoded image" + (f" ({noun} {y[0]})" if y else "")], width=280,
                                scale=10)
            st.caption(f"decoded and drawn in {1000 * (time.perf_counter() - t0):.1f} ms on {models.device_line()}")
    with left:
        st.markdown("**What one direction does**: the current code with one dimension swept across its range")
        dim = st.selectbox("Sweep dimension", list(range(d)), format_func=lambda i: f"z{i + 1}", key=f"{prefix}_sweep")
        values = np.linspace(lo[dim], hi[dim], 9, dtype=np.float32)
        zs = np.repeat(z[None], 9, axis=0)
        zs[:, dim] = values
        widgets.show_images(explore.decode(model, zs, None if y is None else y * 9),
                              [f"{v:.1f}" for v in values], width=56, scale=2)


sliders_and_image()
