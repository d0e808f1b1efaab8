"""Compare: two models side by side on the same test images, the same prior draws and the same axes."""

import numpy as np
import streamlit as st

from aae_core import metric_schema as S
from aae_core import metrics
from explorer import (
    catalog,
    compare,
    evaluation,
    exports,
    figures,
    game_layers,
    map_view,
    models,
    picker,
    state,
    teaching_figures,
    widgets,
)

st.title("Compare two models")
state.explain(
    "Two models side by side, fed exactly the same: the same test images, the same prior draws, and maps on the "
    "same axes. It opens on the paper's Fig. 2 pair, matched: an AAE and a VAE with the same 2-D Gaussian "
    "prior (σ = 5), the same widths, epochs and seed. The AAE's discriminator matches the codes to the prior as a "
    "whole; the VAE's KL term pulls each code toward the centre one image at a time, so its codes crowd the middle "
    "and leave holes. Pick any two models below.")

refs, labels = picker.choices()
pair = compare.default_pair(refs, st.session_state.get(state.MODEL_KEY))
if pair is None:
    st.warning("No models yet: train one on the Train page or upload one on Home.")
    st.stop()
ss = st.session_state
for key, default in zip(("compare_a", "compare_b"), pair, strict=True):
    if ss.get(key) not in refs:
        ss[key] = default
cols = st.columns(2, gap="large")
refs_ab = [cols[i].selectbox(f"Model {name}", refs, key=f"compare_{name.lower()}",
                             format_func=lambda r: labels.get(r, r)) for i, name in enumerate("AB")]
curs = [picker.model_at(r) for r in refs_ab]
if any(c is None for c in curs):
    st.stop()
for col, cur in zip(cols, curs, strict=True):
    col.caption(f"{cur.description}. {cur.words.explanation}")

# --- latent maps -----------------------------------------------------------------------------------
st.subheader("Latent maps")
lmaps = [evaluation.placeable_map(c) for c in curs]
if any(m is None for m in lmaps):
    st.stop()
same_method = lmaps[0].method == lmaps[1].method
same_axes = st.toggle("Same axes for both maps", same_method, key="compare_same_axes", disabled=not same_method,
                      help="One axis range for both maps, so that a spread or a gap reads the same on each side.")
xr, yr = teaching_figures.shared_range(*lmaps)
two_d = [m.method == "latent" and m.latent_dim == 2 for m in lmaps]
show_critic = any(two_d) and st.toggle("D(z) heatmaps", False, key="compare_critic",
                                       help="Each model's discriminator: blue where it says 'drawn from the prior', "
                                            "orange where it says 'an encoder's code'.")
for col, cur, lmap, name, flat in zip(st.columns(2, gap="large"), curs, lmaps, "AB", two_d, strict=True):
    fig = figures.latent_map_figure(lmap, clickable_background=False, height=440)
    if same_axes:
        fig.update_layout(xaxis_range=list(xr), yaxis_range=list(yr))
    with col:
        if show_critic and flat:
            label = game_layers.critic_label(cur.config, f"compare_critic_label_{name.lower()}")
            for line in game_layers.add_layers(fig, cur, lmap.z, lmap.labels, critic=True, push=False,
                                               manifold=False, label=label):
                st.caption(line)
        map_view.map_chart(lambda c=cur: c, lmap, fig, key=f"compare_map_{name.lower()}", clickable=False)
        view = "the latent space itself" if lmap.method == "latent" else f"PCA of the {lmap.latent_dim}-D codes"
        st.caption(f"{view}; codes matched to: {catalog.prior_description(cur.config)}. {cur.words.map_note}")
if same_axes and {c.config.prior_std for c in curs} != {curs[0].config.prior_std}:
    st.caption("The two priors have different widths (σ above): on shared axes the narrower one looks small. "
               "Turn the toggle off to see each at its own scale.")

# --- prior fit -----------------------------------------------------------------------------------------
st.subheader("How well the codes fit the prior")
fits = [evaluation.prior_fit(c) for c in curs]
if all(f is not None for f in fits):
    rows = {S.MMD.label: "mmd", "same-prior reference (the verdict's scale)": "reference",
            "largest |mean gap| over dimensions": "mean", "largest |std gap|": "std",
            "largest |skewness gap|": "skewness", "largest |excess kurtosis gap|": "excess_kurtosis"}
    summaries = [evaluation.fit_summary(f.fit) for f in fits]
    for summary in summaries:
        summary["reference"] = metrics.fit_reference(summary["mmd_same_prior"])
    table = [{"statistic": label, "model A": f"{summaries[0][k]:.4f}", "model B": f"{summaries[1][k]:.4f}"}
             for label, k in rows.items()]
    table.append({"statistic": "measured on", "model A": fits[0].source, "model B": fits[1].source})
    st.table(table)
    for col, summary, name in zip(st.columns(2, gap="large"), summaries, "AB", strict=True):
        level, sentence = metrics.fit_verdict(summary["mmd"], summary["mmd_same_prior"])
        getattr(col, {"match": "success", "close": "warning", "mismatch": "error"}[level])(f"Model {name}: {sentence}")
    st.caption("The Prior fit page shows each dimension's histogram against the prior. The reference is the MMD "
               f"of the prior against itself, taken as at least {metrics.MMD_NOISE_FLOOR:g} (sampling noise).")

# --- sample quality ------------------------------------------------------------------------------------
st.subheader("How many decoded prior samples read as a digit")
st.table(catalog.sample_quality_table({f"model {n}": evaluation.metrics_of(c) for n, c in zip("AB", curs,
                                                                                            strict=True)}))
st.caption(catalog.SAMPLE_QUALITY_NOTE)

# --- reconstructions -----------------------------------------------------------------------------------
st.subheader("Reconstructions of the same test images")
test = models.test_set(curs[0].config.dataset)
if test is not None:
    c1, c2, _ = st.columns([1, 1, 2])
    n = int(c1.slider("Images", 4, 16, 10, key="compare_n"))
    start = int(c2.number_input("First test image #", 0, max(len(test) - n, 0), 0, key="compare_start"))
    rows_img = []
    for i, cur in enumerate(curs):
        images, image_labels, recon = compare.reconstructions(cur, test, start, n)
        if i == 0:
            st.markdown("**Test images**")
            widgets.show_images(images, [str(int(v)) for v in image_labels], width=56, scale=2)
            rows_img.append(images)
        st.markdown(f"**Model {'AB'[i]}** ({cur.name})")
        widgets.show_images(recon, [f"{'AB'[i]} {j}" for j in range(len(recon))], width=56, scale=2)
        rows_img.append(recon)
    exports.download_png("Download these rows (PNG)", np.stack(rows_img), "reconstructions.png", "compare_recon_png")

# --- prior samples -------------------------------------------------------------------------------------
st.subheader("Samples of each prior, decoded")
seed = int(st.number_input("Prior sample seed", 0, 10**6, 0, key="compare_seed"))
n_samples = 10
samples = [compare.prior_decodings(cur, n_samples, seed) for cur in curs]
for col, cur, images, name in zip(st.columns(2, gap="large"), curs, samples, "AB", strict=True):
    with col:
        st.markdown(f"**Model {name}** ({cur.name})")
        caps = ([f"{cur.family.classes.noun} {k}" for k in compare.class_codes(cur, n_samples)]
                if cur.family.classes else [f"sample {j}" for j in range(n_samples)])
        widgets.show_images(images, caps, width=56, scale=2)
        exports.download_png("Download (PNG)", images, f"prior_samples_{name.lower()}.png",
                             f"compare_samples_png_{name}")
st.caption("Each model draws from its own prior with the same seed; models with a class code decode sample j with "
           "class code j (cycling).")
