"""Latent map: the encoded test set and prior samples on one chart; click a point to decode it. A click reruns
only the decoded point beside the map and the sidebar's share link (fragments): the map is not drawn again."""

import streamlit as st

from aae_core import map_cache
from aae_core import metric_schema as S
from explorer import exports, figures, game_layers, map_view, maps, picker, point_view, share, state, widgets
from explorer.selection import MapClick
from explorer.tasks import BackgroundTask

METHOD_NAMES = {"latent": "the latent space itself", "umap": "UMAP (one fit, then cached)", "pca": "PCA (instant)"}
STANDING_IN = "Showing PCA while UMAP fits"

# A cached map is drawn from the checkpoint's description alone; the model (and torch) loads after the chart,
# so a fresh server shows a shipped model's map at once.
ref = picker.require_ref()
st.title("Latent map")
intro = st.empty()   # the page's explanation, written once the chart is out
presenting = state.presenting()

methods = map_cache.methods_for(ref.latent_dim)
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
layers = {}
if ref.latent_dim == 2 and method == "latent":   # the game's layers (off at first: they need the model)
    layers = game_layers.toggles(ref, "map")

# The decoded point sits beside the map, in presentation mode too (below it, a click's image lands a screen
# further down on a projector); the map's height then fits a 1080-pixel screen under the page's header.
chart_area, panel = st.columns([7, 3], gap="medium")

standing_in = False
lmap = maps.cached_map(ref, method)
if lmap is None:  # not cached yet: encode the test set (and for UMAP, fit in the background)
    result = maps.latent_map(picker.require_model(), method)
    if isinstance(result, BackgroundTask):
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
            st.progress(s.fraction, text=f"{s.message} · {s.elapsed:.0f} s so far")

        with chart_area:
            st.warning(f"**{STANDING_IN}.** The chart below is the PCA view, not UMAP: UMAP is being fitted to "
                       "the codes of the test set and the prior samples, once for this model, in three stages "
                       "(encoding, neighbour graph, layout); the result is cached on disk and replaces this view "
                       "when it is done.", icon=":material/hourglass_top:")
            umap_progress()
        method, result, standing_in = "pca", maps.latent_map(picker.require_model(), "pca"), True
    if result is None:
        st.stop()
    lmap = result

share.place_pending(ref, lmap)   # a point a shared link named
with chart_area:
    over = f"{STANDING_IN} (PCA view)" if standing_in else None
    if any(layers.values()):   # drawn on a figure of this view's own (the shared one is never changed)
        fig = figures.latent_map_figure(lmap, show_prior=show_prior, presentation=presenting,
                                        gaussian_std=ref.gaussian_std, note=over)
        game_cur = picker.require_model()
        label = None
        if layers["manifold"] and game_cur.family.classes:
            label = widgets.class_selector(game_cur, "map_manifold_class",
                                           f"Decoded manifold for {widgets.class_noun(game_cur)}")
        elif layers["critic"] or layers["push"]:
            label = game_layers.critic_label(game_cur.config, "map_critic_label")
        for line in game_layers.add_layers(fig, game_cur, lmap.z, lmap.labels, label=label, **layers):
            st.caption(line)
    else:
        fig = map_view.map_figure(ref, lmap, show_prior=show_prior, presentation=presenting, note=over)

    def clicked(click: MapClick | None, pick=ref, lmap=lmap) -> None:   # the chart's callback, before the rerun
        if click is not None:
            widgets.remember_click(pick, lmap, click)
        st.rerun([point_view.FRAGMENT, share.FRAGMENT])

    click = map_view.map_chart(picker.require_model, lmap, fig, key=state.MAP_CHART_KEY, on_click=clicked,
                               config=figures.chart_config(exports.safe_name(f"latent_map_{ref.name}_{lmap.method}")))
    if click is not None:   # where no callback ran (AppTest sets the chart's state before a whole run)
        widgets.remember_click(ref, lmap, click)
    own = S.OWN_COMPONENT.read(ref.metrics)
    facts = [f"{lmap.n_test:,} test images and {lmap.prior_z.shape[0]:,} prior samples."]
    if own is not None:
        facts.append(f"**{100 * own:.1f} %** of the test images' codes lie in their own label's part of the prior "
                     "(metrics.json: own_component_fraction).")
    facts.append("Click a legend entry to hide a digit; drag to zoom, double-click to reset; the camera icon "
                 "saves the chart as a PNG.")
    st.caption(" ".join(facts))

drawn = []
if show_prior and lmap.prior_labels is not None:
    drawn.append("crosses are samples of the prior p(z), each in the colour of the label it was drawn for "
                 "(each digit has its own part of this prior, paper Fig. 4)")
elif show_prior:
    drawn.append(f"dark grey dots are samples of {ref.words.prior_words}, which the codes were pushed toward")
if ref.gaussian_std and figures.gaussian_rings(lmap, ref.gaussian_std) is not None:
    drawn.append(f"dashed circles mark 1σ, 2σ and 3σ of the Gaussian prior (σ = {ref.gaussian_std:g})")
state.explain(
    "Each coloured dot is a test image placed at its code z" + "".join(f"; {d}" for d in drawn) + ". Click any "
    "dot (or, in a 2-D latent, any empty spot) to decode it.", intro)
note = ref.words.map_note  # read from the kind: no torch
if note:
    with chart_area, st.container(border=True):
        st.markdown(f":material/visibility: **What to look for.** {note}")


with panel:
    point_view.decoded_point(ref)

# With the map on screen, load the model and the test images (the first click is then quick) and offer the
# encoded test set; its files are made only when a button is clicked.
cur = picker.require_model()
with chart_area:
    point_view.test_set_downloads(cur, lmap)

# A run's training timeline (recorded by aae_core.snapshots): played in the browser, frame by frame.
if ref.latent_dim == 2 and game_layers.has_timeline(ref.folder):
    with chart_area:
        if st.toggle("Play the training timeline", False, key="map_timeline",
                     help="The codes of 1,000 held-out images, D's view and the generator's push, recorded while "
                          "this model trained; ▶ plays it in the browser."):
            game_layers.timeline_player(cur.folder, cur.config, lmap, "map_timeline")
