"""Interpolate: decode the straight line in z between two points."""

import numpy as np
import streamlit as st

from aae_core import explore
from explorer import figures, maps, picker, state, widgets

cur = picker.require_model()
st.title("Interpolate")
state.explain(
    "Pick two points in the latent space and walk the straight line between them, decoding each step. "
    "Because the AAE pushed the codes to fill the prior without holes, every step on the way should decode "
    "to a plausible digit that morphs smoothly from one end to the other; gaps in the prior's coverage "
    "show up as blurry steps.")

model = cur.model
c1, c2 = st.columns(2, gap="large")
with c1:
    a = widgets.point_picker(cur, "interp_a", "Start point A", default_index=0)
with c2:
    b = widgets.point_picker(cur, "interp_b", "End point B", default_index=1)
if a is None or b is None:
    st.stop()

steps = st.slider("Steps", 3, 16, 10, key="interp_steps")
ys = None
if cur.config.needs_class_code:
    k = cur.config.n_classes
    mode = st.radio("Class code along the way", ["A's class to B's class (linear)", "one fixed class"],
                    horizontal=True, key="interp_class_mode")
    if mode == "one fixed class" or a.y is None or b.y is None:
        if mode != "one fixed class":
            st.caption("A prior sample has no class: pick the class for the whole path.")
        fixed = explore.one_hot(widgets.class_selector(cur, "interp_class"), k)
        ys = np.repeat(fixed[None], steps, axis=0)
    else:
        ys = explore.interpolate(a.y, b.y, steps)
zs = explore.interpolate(a.z, b.z, steps)
images = explore.decode(model, zs, ys)
ts = np.linspace(0, 1, steps)

st.markdown(f"**From {a.description} to {b.description}**")
row = list(images)
captions = [f"t = {t:.2f}" for t in ts]
if a.image is not None:
    row, captions = [a.image, *row], ["A (original)", *captions]
if b.image is not None:
    row, captions = [*row, b.image], [*captions, "B (original)"]
widgets.show_images(np.stack(row), captions, width=72, scale=3)

method = "latent" if cur.config.latent_dim == 2 else "pca"  # both place any code on the map, instantly
lmap = maps.latent_map(cur, method)
if lmap is not None:
    st.markdown("**The path on the latent map**" + (" (PCA view: a straight line stays straight)"
                                                   if method == "pca" else ""))
    st.plotly_chart(figures.path_figure(lmap, lmap.place(zs)), key="path_chart")
