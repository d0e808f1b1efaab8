"""Draw a digit: draw on a canvas, see it prepared as MNIST was, where the model puts it, how it rebuilds it."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas  # a page runs inside the app: importing it elsewhere raises

from aae_core import explore
from explorer import drawing, evaluation, exports, figures, map_view, models, picker, state, teaching_figures, widgets

drawing.follow()
cur = picker.require_model()
model, family = cur.model, cur.family
st.title("Draw a digit")
state.explain(
    "Draw a digit with the mouse (or a finger). It is prepared the way MNIST's digits were: its bounding box "
    "scaled to fit 20×20 pixels keeping its shape, then moved so that its centre of mass sits in the middle of "
    "28×28. The model then encodes it like any test image: see where its code lands among the test set's, what "
    "the decoder rebuilds from it"
    + (f", and which {family.classes.noun} the model gives it" if family.classes.predicted else "") + ".")

left, right = st.columns([1, 2], gap="large")
with left:
    image = drawing.canvas("draw_canvas", st_canvas)
    st.caption("White ink on black, as MNIST. The toolbar under the canvas undoes or clears.")
if image is None:
    right.info("Draw a digit on the canvas: the rest of the page appears when you lift the pen.",
               icon=":material/draw:")
    st.stop()
drawing.remember(image)

labels = None
with right:
    asks = bool(family.classes) and not family.classes.predicted   # decodes through the true label: ask for it
    if asks:
        drawn = widgets.class_selector(cur, "draw_label", "Which digit did you draw? (this model decodes "
                                                          "through the label)", default=None)
        labels = None if drawn is None else [drawn]
    if asks and labels is None:   # never assume a digit: the reconstruction waits for the answer
        widgets.show_images(image[None], ["What the model sees (28×28)"], width=168, scale=6)
        st.info("Pick the digit you drew above: this model rebuilds an image from its style z **and** its label, "
                "so it cannot rebuild yours without being told which digit it is.", icon=":material/touch_app:")
    else:
        recon = explore.reconstruct(model, image[None], labels=labels)[0]
        widgets.show_images(np.stack([image, recon]), ["What the model sees (28×28)", "Reconstruction"],
                            width=168, scale=6)
        exports.download_png("Download (PNG)", np.stack([image, recon]), "drawn_digit.png", "draw_png", scale=6)
    probs = explore.class_probabilities(model, image[None])
    if probs is not None:
        noun = family.classes.noun
        st.markdown(f"**The model's {noun} probabilities** (most likely: {int(probs[0].argmax())})")
        st.plotly_chart(figures.probabilities_figure(probs[0], noun=noun), key="draw_probs")

point = explore.point_from_image(model, image, "your drawn digit")
st.subheader("Where it lands")
lmap = evaluation.placeable_map(cur)
if lmap is not None:
    xy = lmap.place(point.z[None])
    fig = figures.latent_map_figure(lmap, clickable_background=False, height=480)
    map_view.map_chart(lambda: cur, lmap, teaching_figures.with_marker(fig, xy[0]), key="draw_map", clickable=False)
    nearest = np.argsort(((lmap.z - point.z) ** 2).sum(1))[:8]
    st.caption(("The latent space itself." if lmap.method == "latent" else
                f"PCA of the {lmap.latent_dim}-D codes (placing a new code needs a linear view).") +
               f" {cur.words.map_note}")
    st.markdown("**The test images with the nearest codes**")
    test_images = models.test_set(cur.config.dataset)
    if test_images is not None:
        widgets.show_images(test_images.images[nearest].cpu().numpy(),
                            [f"#{i} ({int(lmap.labels[i])})" for i in nearest], width=56, scale=2)

st.subheader("Explore from your digit")
b1, b2, b3 = st.columns(3)
b1.button("Decoder sliders", key="draw_to_sliders", icon=":material/tune:", on_click=drawing.send_to,
          args=(cur, point.z, "sliders"), help="The sliders start at your digit's code.")
b2.button("Sweep the class code", key="draw_to_style", icon=":material/grid_view:", on_click=drawing.send_to,
          args=(cur, point.z, "style_class"), disabled=not cur.family.classes,
          help="Your digit's style written as every digit (models with a class code).")
b3.button("Interpolate from it", key="draw_to_interp", icon=":material/linear_scale:", on_click=drawing.send_to,
          args=(cur, point.z, "interpolate"), help="Your digit is point A of the interpolation.")
