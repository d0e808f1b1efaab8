"""Interpolate: decode the straight line in z between two points."""

import numpy as np
import streamlit as st

from aae_core import explore
from explorer import exports, figures, map_view, maps, picker, state, widgets

cur = picker.require_model()
st.title("Interpolate")
if cur.family.classes:
    noun = widgets.class_noun(cur)
    why_blur = (f"This model decodes a style z and a {noun} code y. When A and B have different {noun}s, the "
                f"{noun} code is blended along the way too: midway the decoder is handed half of one {noun} and "
                f"half of another, a code it never saw in training, and that mix, not a gap in the prior, is "
                f"what blurs the middle steps. Choose 'one fixed {noun}' to walk the style alone.")
else:
    why_blur = (f"Because the codes were pushed to fill {cur.words.prior_words} without holes, every step on "
                "the way should decode to a plausible digit that morphs smoothly from one end to the other; gaps "
                "in the codes' coverage show up as blurry steps.")
state.explain("Pick two points in the latent space and walk the straight line between them, decoding each "
              f"step. {why_blur}")

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
if cur.family.classes:
    k, noun = cur.config.n_classes, widgets.class_noun(cur)
    linear, fixed_one = f"A's {noun} to B's {noun} (linear)", f"one fixed {noun}"
    mode = st.radio(f"{noun.capitalize()} code along the way", [linear, fixed_one], horizontal=True,
                    key="interp_class_mode")
    if mode == fixed_one or a.y is None or b.y is None:
        if mode != fixed_one:
            st.caption(f"A prior sample has no {noun}: pick the {noun} for the whole path.")
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
strip = explore.upscale(explore.tile(np.stack(row)[None], pad=2, fill=255), 3)
if map_view.in_browser():
    st.markdown("**Walk it yourself**: drag t from A (0) to B (1); your browser decodes every position")
    map_view.browser_line(cur, a.z, b.z, None if ys is None else ys[0], None if ys is None else ys[-1],
                          key="interp_walk")
st.download_button("Download the strip (PNG)", exports.png_bytes(strip), mime="image/png",
                   file_name=exports.safe_name(f"{cur.name}_interpolation") + ".png", icon=":material/download:",
                   on_click="ignore", key="interp_png")

method = "latent" if cur.config.latent_dim == 2 else "pca"  # both place any code on the map, instantly
lmap = maps.latent_map(cur, method)
if lmap is not None:
    # a square chart (one unit the same both ways) beside its note, zoomed onto the path: full width at
    # 420 px high left the path a few pixels long
    chart, note = st.columns([3, 2], gap="large")
    with chart:
        st.markdown("**The path on the latent map**" + (" (PCA view: a straight line stays straight)"
                                                       if method == "pca" else ""))
        map_view.map_chart(lambda: cur, lmap, figures.path_figure(lmap, lmap.place(zs), height=560, zoom=True),
                           key="path_chart", clickable=False,
                           config=figures.chart_config(exports.safe_name(f"{cur.name}_interpolation_path")))
    note.caption("The view is zoomed onto the path and its surroundings (double-click the chart for the whole "
                 "map). Faded dots are the test images' codes (colour: label) and prior samples; the black line "
                 "is the straight path from A to B that the strip above decodes.")
