"""Style × class: one handwriting style drawn as every digit (paper Fig. 6 and 8)."""

import numpy as np
import streamlit as st

from aae_core import explore
from aae_core import metric_schema as S
from explorer import exports, figures, map_view, picker, state, widgets

cur = picker.require_model()
st.title("Style × class")
if cur.family.classes and not cur.family.classes.means_label:  # clusters: found, not taught
    k = cur.config.n_classes
    state.explain(
        f"This model sorts images into {k} clusters of its own (no label was used) and gives the decoder the "
        "cluster separately, so the code z holds the *style*. Fix one style and sweep the cluster code "
        f"0-{k - 1}: each column draws what one cluster gathered, in the same style (paper §6, Fig. 9).")
elif cur.family.classes.predicted:  # semi-supervised: the class is learned from a few labels
    k = cur.config.n_classes
    state.explain(
        "A semi-supervised AAE gives the decoder the class separately, so the code z is pushed to hold the "
        f"*style*. But it learned what a class is from only {cur.config.n_labels:,} labelled images: the split "
        "is as clean as its classifier, and some sweeps draw a wrong digit or keep the original's shape. Fix one "
        f"style and sweep the class code 0-{k - 1} to see how far it goes; the digit judge's reading below says "
        "how often each class code draws its digit (paper §5, Fig. 8).")
else:
    k = cur.config.n_classes
    state.explain(
        "A supervised AAE gives the decoder the true label separately, so the code z is pushed to hold only "
        f"the *style*: slant, stroke width, size. Fix one style and sweep the class code 0-{k - 1}, and you get "
        f"{k} different digits written the same way; stack several styles to get the paper's Fig. 6.")

if not cur.family.classes:
    st.info(f"This page needs a model whose decoder takes a class code (supervised, semi-supervised or "
            f"clustering). The picked model ({cur.description}) has none: pick another one in the sidebar.")
    st.stop()

sweep_check = S.CLASS_SWEEP_RECORD.of(cur.metrics)
prior_sweep = S.PRIOR_CLASS_SWEEP.of(cur.metrics)
if "accuracy" in sweep_check:
    judge_acc = 100 * (sweep_check.get("judge_test_accuracy") or 0)
    st.caption(f"Measured: a separate digit classifier (the judge, {judge_acc:.1f} % on real test digits) "
               f"reads {100 * sweep_check['accuracy']:.1f} % of the class sweeps of "
               f"{sweep_check.get('n_styles', 0):,} test-image styles as the intended digit.")
if "accuracy" in prior_sweep and "per_class" in prior_sweep:
    per_class = np.asarray(prior_sweep["per_class"], dtype=float)
    worst = int(per_class.argmin())
    judge_col, text_col = st.columns([2, 3], gap="large")
    judge_col.plotly_chart(figures.probabilities_figure(per_class, noun=f"{cur.family.classes.noun} code"),
                           key="sweep_judge_chart", config=figures.chart_config("class_sweep_judge"))
    text_col.caption(
        f"The digit judge (a classifier trained on real MNIST, not part of this model) read "
        f"{prior_sweep.get('n_styles', 0):,} styles drawn from the prior, each decoded with every class code: "
        f"**{100 * prior_sweep['accuracy']:.1f} %** of the images show the intended digit; the bars give each "
        f"class code's share (lowest: {worst}, {100 * per_class[worst]:.1f} %). Written by "
        "`python -m aae_core.evaluate` into metrics.json.")

model, k = cur.model, cur.config.n_classes
noun = cur.family.classes.noun
left, right = st.columns([1, 3], gap="large")
with left:
    point = widgets.point_picker(cur, "style", "Take the style from")
    if point is not None and point.image is not None:
        widgets.show_images(point.image[None], [point.description], width=112, scale=4)
with right:
    if point is not None:
        st.markdown(f"**This style with every {noun} code** ({point.description})")
        row = explore.class_sweep(model, point.z[None])[0]
        widgets.image_strip(row, f"{noun.capitalize()} codes 0-{k - 1}, left to right", scale=3,
                            file_name=exports.safe_name(f"{cur.name}_{noun}_sweep") + ".png", key="sweep_png")
        if map_view.in_browser():
            st.markdown(f"**Change the style**: drag a slider and your browser redraws every {noun} as you go")
            lo, hi = explore.slider_ranges(model)
            map_view.browser_sliders(cur, point.z, lo, hi, min(len(point.z), 16), class_code=None,
                                     key="style_sliders", sweep=True)
        grid = st.session_state.style_grid
        c1, c2, c3 = st.columns(3)
        if c1.button("Add this style to the grid", icon=":material/add:", key="add_style"):
            grid.append({"fingerprint": cur.fingerprint, "z": [float(v) for v in point.z],
                         "description": point.description})
        if c2.button("Add 5 random prior styles", icon=":material/casino:", key="add_random"):
            start = sum(1 for g in grid if g["fingerprint"] == cur.fingerprint)
            for s in explore.prior_samples(model, 5, seed=1000 + start):
                grid.append({"fingerprint": cur.fingerprint, "z": [float(v) for v in s], "description": "prior"})
        if c3.button("Clear the grid", icon=":material/delete:", key="clear_grid"):
            st.session_state.style_grid = [g for g in grid if g["fingerprint"] != cur.fingerprint]

styles = [g for g in st.session_state.style_grid if g["fingerprint"] == cur.fingerprint]
if styles:
    st.subheader(f"{len(styles)} styles × {k} {noun}{'es' if noun.endswith('s') else 's'}")
    sweep = explore.class_sweep(model, np.array([g["z"] for g in styles], np.float32))
    grid_image = explore.upscale(explore.tile(sweep, pad=2, fill=40), 2)
    st.image(grid_image, caption=f"Rows: styles (in the order added); columns: {noun} codes 0-{k - 1}.")
    st.download_button("Download the grid (PNG)", exports.png_bytes(grid_image),
                       file_name=exports.safe_name(f"{cur.name}_styles_by_{noun}") + ".png", mime="image/png",
                       icon=":material/download:", on_click="ignore", key="grid_png")
