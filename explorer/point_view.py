"""The Latent map page's views beside and under the map: the decoded point (a fragment that a click reruns
alone) and the encoded test set to take away."""

import numpy as np
import streamlit as st

import aae_core
from aae_core.map_cache import LatentMap
from explorer import evaluation, exports, figures, models, picker, widgets
from explorer.picker import Current, Pick

FRAGMENT = "map_point"   # the decoded point beside the map: what a click reruns


@st.fragment(key=FRAGMENT)
def decoded_point(pick: Pick) -> None:
    """The clicked point beside the map: a fragment that a click reruns alone."""
    sel = widgets.selected_point(pick)
    if sel is None:
        st.markdown("#### Decoded point")
        st.caption("Click a point on the map: an encoded test image shows next to its reconstruction; a prior "
                   "sample (or an empty spot of a 2-D latent) shows what the decoder makes of it.")
        return
    explore = aae_core.explore      # torch: a decoded point computes
    cur = picker.require_loaded(pick)
    model, noun = cur.model, widgets.class_noun(cur)
    if sel.source == "encoded":
        test = models.test_set(cur.config.dataset)
        if test is not None:
            i = sel.index
            image, label = test.images[i].numpy(), int(test.labels[i])
            recon = explore.reconstruct(model, image[None], labels=[label])[0]
            st.markdown(f"#### Test image #{i}")
            widgets.show_images(np.stack([image, recon]), [f"Original (label {label})", "Reconstruction"],
                                width=168, scale=6)
            probs = explore.class_probabilities(model, image[None])
            if probs is not None:
                predicted = evaluation.class_name(cur, int(probs[0].argmax()))
                st.markdown(f"**The model's {noun} probabilities** (predicted: {predicted})")
                truth = label if cur.family.classes.means_label else None
                st.plotly_chart(figures.probabilities_figure(probs[0], true_label=truth, noun=noun),
                                key="probs_chart", config=figures.chart_config("probabilities"))
    else:
        z = sel.code
        st.markdown(f"#### {'Prior sample' if sel.source == 'prior' else 'Empty spot'}")
        y = [widgets.class_selector(cur, "map_class")] if cur.family.classes else None
        image = explore.decode(model, z[None], y)[0]
        widgets.show_images(image[None], [f"Decoded z{f' with {noun} ' + str(y[0]) if y else ''}"],
                            width=168, scale=6)
        if cur.family.classes:
            k = cur.config.n_classes
            st.markdown(f"**The same z with every {noun} code**")
            widgets.image_strip(explore.class_sweep(model, z[None])[0],
                                f"{noun.capitalize()} codes 0-{k - 1}, left to right", scale=2,
                                file_name=exports.safe_name(f"{pick.name}_{noun}_sweep") + ".png",
                                key="map_sweep_png")
    shown = ", ".join(f"{v:.2f}" for v in sel.z[:8]) + (", ..." if len(sel.z) > 8 else "")
    st.caption(f"z = ({shown}). The Decoder sliders, Style × class and Interpolate pages can start from "
               "this point.")


def test_set_downloads(cur: Current, lmap: LatentMap) -> None:
    """CSV and NPZ buttons for the encoded test set (codes, labels, and the model's class probabilities where it
    has a classifier); the files are made only when a button is clicked."""
    test = models.test_set(cur.config.dataset)
    if test is None or lmap.n_test != len(test):
        return

    def probabilities(model=cur.model, images=test.images) -> np.ndarray | None:
        return aae_core.explore.class_probabilities(model, images)

    base = exports.safe_name(f"{cur.name}_test_codes")
    st.markdown("**Take it away: the encoded test set** (codes z, labels"
                + (f", the model's predicted {widgets.class_noun(cur)} and probabilities)"
                   if cur.family.classes.predicted else ")"))
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("CSV", lambda: exports.encoded_csv(lmap.z, lmap.labels, probabilities()),
                       file_name=f"{base}.csv", mime="text/csv", icon=":material/download:",
                       on_click="ignore", key="codes_csv")
    d2.download_button("NPZ", lambda: exports.encoded_npz(lmap.z, lmap.labels, probabilities()),
                       file_name=f"{base}.npz", mime="application/octet-stream", icon=":material/download:",
                       on_click="ignore", key="codes_npz")
