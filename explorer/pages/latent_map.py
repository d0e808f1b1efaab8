"""Latent map: the encoded test set and prior samples on one chart; click a point to decode it."""

import numpy as np
import streamlit as st

from aae_core import projection
from explorer import figures, maps, models, picker, state, widgets

METHOD_NAMES = {"latent": "the latent space itself", "umap": "UMAP (one fit, then cached)", "pca": "PCA (instant)"}

# A cached map is drawn from the checkpoint's description alone; the model (and torch) loads after the chart,
# so a fresh server shows a shipped model's map at once.
ref = picker.require_ref()
st.title("Latent map")
intro = st.empty()   # the family's own words, written once the chart is out

methods = projection.methods_for(ref.latent_dim)
c1, c2 = st.columns([3, 1])
with c1:
    if len(methods) > 1:
        method = st.radio(f"Projection of the {ref.latent_dim}-D codes to 2-D", methods, horizontal=True,
                          format_func=METHOD_NAMES.get, key="map_method")
    else:
        method = methods[0]
        st.caption("The latent space is 2-D: the map shows it as it is, axes z₁ and z₂.")
with c2:
    show_prior = st.toggle("Show prior samples", True, key="map_show_prior")

lmap = maps.cached_map(ref, method)
if lmap is None:  # not cached yet: encode the test set (and for UMAP, fit in the background)
    from explorer import jobs

    result = maps.latent_map(picker.require_model(), method)
    if isinstance(result, jobs.BackgroundTask):
        task = result

        @st.fragment(run_every=1.0)
        def umap_progress() -> None:
            s = task.status()
            if s.state == "done":
                st.rerun()
            if s.state == "failed":
                st.error(f"The UMAP fit failed: {s.error}")
                st.button("Try again", on_click=maps.retry_map, args=(ref, method))
                return
            st.progress(s.fraction, text=f"{s.message} · {s.elapsed:.0f} s")

        st.caption("Fitting UMAP to the codes of the test set and the prior samples, once for this model; the "
                   "result is cached on disk. Meanwhile, here is the PCA view.")
        umap_progress()
        method, result = "pca", maps.latent_map(picker.require_model(), "pca")
    if result is None:
        st.stop()
    lmap = result

left, right = st.columns([3, 2], gap="medium")
with left:
    fig = figures.latent_map_figure(lmap, show_prior=show_prior)
    event = st.plotly_chart(fig, key=state.MAP_CHART_KEY, on_select="rerun", selection_mode="points",
                            config={"displaylogo": False})
    points = ((event or {}).get("selection") or {}).get("points") or []
    if points:
        widgets.remember_click(ref, lmap, points[0])
    st.caption(f"{lmap.n_test:,} test images and {lmap.prior_z.shape[0]:,} prior samples. Click a legend entry to "
               "hide a digit; drag to zoom, double-click to reset.")
state.explain(
    "Each coloured dot is a test image placed at its code z; dark grey dots are samples of the prior p(z) the "
    f"model was trained toward. {ref.family.map_note} Click any dot (or, in a 2-D latent, any empty spot) to "
    "decode it.", intro)

with right:
    sel = widgets.selected_point(ref)
    if sel is None:
        st.markdown("#### Decoded point")
        st.caption("Click a point on the map: an encoded test image shows next to its reconstruction; a prior "
                   "sample (or an empty spot of a 2-D latent) shows what the decoder makes of it.")
    else:
        from aae_core import explore

        cur = picker.require_model()
        model = cur.model
        if sel["source"] == "encoded":
            test = models.test_set(cur.config.dataset)
            if test is not None:
                i = sel["index"]
                image, label = test.images[i].numpy(), int(test.labels[i])
                recon = explore.reconstruct(model, image[None], labels=[label])[0]
                st.markdown(f"#### Test image #{i}")
                widgets.show_images(np.stack([image, recon]), [f"Original (label {label})", "Reconstruction"],
                                      width=168, scale=6)
                probs = explore.class_probabilities(model, image[None])
                if probs is not None:
                    noun = cur.family.class_noun
                    st.markdown(f"**The model's {noun} probabilities** (predicted {int(probs[0].argmax())})")
                    truth = label if cur.family.classes_are_labels else None
                    st.plotly_chart(figures.probabilities_figure(probs[0], true_label=truth, noun=noun),
                                    key="probs_chart")
        else:
            z = np.asarray(sel["z"], np.float32)
            st.markdown(f"#### {'Prior sample' if sel['source'] == 'prior' else 'Empty spot'}")
            y = [widgets.class_selector(cur, "map_class")] if cur.config.needs_class_code else None
            image = explore.decode(model, z[None], y)[0]
            widgets.show_images(image[None], [f"Decoded z{' with class ' + str(y[0]) if y else ''}"],
                                  width=168, scale=6)
            if cur.config.needs_class_code:
                st.markdown("**The same z with every class code**")
                widgets.show_images(explore.class_sweep(model, z[None])[0],
                                      [str(k) for k in range(cur.config.n_classes)], width=48, scale=2)
        z = np.asarray(sel["z"])
        shown = ", ".join(f"{v:.2f}" for v in z[:8]) + (", ..." if z.size > 8 else "")
        st.caption(f"z = ({shown}). The Decoder sliders, Style × class and Interpolate pages can start from "
                   "this point.")

if sel is None:  # with the map on screen, load the model and the test images so that the first click is quick
    models.test_set(picker.require_model().config.dataset)
