"""Prior fit: do the codes of the test set follow the prior? Histograms per dimension, moments, MMD, a verdict."""

import numpy as np
import streamlit as st
import torch

from aae_core import metrics
from aae_core.prior_shapes import shape_of
from explorer import evaluation, exports, family_text, picker, state, teaching_figures

MAX_DIMS = 16

cur = picker.require_model()
st.title("Prior fit")
family = cur.family
learned = cur.words.pulled_by == "learned"       # ALAE: the codes meet a learned F(z), not a fixed prior
if learned:
    how = (f"An {family_text.title(cur.config.kind)} has no fixed prior for its codes: they are compared with "
           f"{cur.words.prior_words}, "
           "which the adversarial game shapes together with the encoder. Here the codes E(x) of the test set "
           "stand beside samples of F(z), not beside an N(0, 1) density")
elif cur.words.pulled_by == "discriminator":
    how = "The discriminator's job was to make the codes indistinguishable from samples of the prior p(z)"
else:
    how = ("This model has no discriminator: its KL term pulls each image's posterior toward the prior, which "
           "does not force the codes as a whole to match it (the codes here are posterior means)")
style = (f" The code z here is the style; the {family.classes.noun} lives in a separate one-hot code with its own "
         "prior, not shown." if cur.family.classes else "")
state.explain(
    f"{how}. This page checks the outcome the way the Keras AAE this project grew from did: each latent "
    "dimension's histogram over the prior's, the first four moments of both, and one number for the whole "
    f"distribution, the MMD, next to the MMD of the prior against itself.{style}")

fit = evaluation.prior_fit(cur)
if fit is None:
    st.stop()
enc, pri = fit.fit["encoded"], fit.fit["prior"]
mmd, same = float(fit.fit["mmd"]), float(fit.fit["mmd_same_prior"])
level, sentence = metrics.fit_verdict(mmd, same)
{"match": st.success, "close": st.warning, "mismatch": st.error}[level](sentence, icon=":material/balance:")
c1, c2, c3 = st.columns(3)
c1.metric("MMD codes vs prior", f"{mmd:.4f}")
c2.metric("same-prior reference", f"{metrics.fit_reference(same):.4f}",
          help=f"What the verdict compares with: the MMD of two independent samples of the prior (measured "
               f"{same:.4f}), taken as at least {metrics.MMD_NOISE_FLOOR:g}, since an unbiased MMD scatters "
               "around 0 by sampling noise and can come out slightly negative.")
c3.metric("measured on", fit.source.split(" (")[0], help=fit.source)
st.caption(
    f"Squared MMD with a Gaussian kernel (bandwidth: the median distance), unbiased, on up to 2,000 codes and "
    f"2,000 prior samples ({fit.source}). The verdict: 'match' when the MMD is at most {metrics.MATCH_FACTOR:g}x "
    f"the same-prior reference, 'close' at most {metrics.CLOSE_FACTOR:g}x, else 'do not match'; the reference is "
    f"taken as at least {metrics.MMD_NOISE_FLOOR:g}, about the spread of the same-prior MMD over random draws "
    "(measured: std 0.0002 in 2-D, 0.0001 in 10-D), so that sampling noise alone never fails a model.")

# --- histograms ---------------------------------------------------------------------------------------------
st.subheader("Each dimension: codes against the prior")
lmap = evaluation.placeable_map(cur)
if lmap is not None:
    d = lmap.latent_dim
    first = 0
    if d > MAX_DIMS:
        first = int(st.number_input(f"First dimension shown (of {d})", 1, d - MAX_DIMS + 1, 1, key="fit_first")) - 1
    dims = list(range(first, min(first + MAX_DIMS, d)))
    bins = int(st.slider("Bins", 10, 80, 40, key="fit_bins"))
    edges, code_density, prior_density = metrics.dimension_histograms(
        torch.from_numpy(lmap.z[:, dims]), torch.from_numpy(lmap.prior_z[:, dims]), bins=bins)
    analytic = None
    if shape_of(cur.config.prior).has_std and not learned:      # N(0, σ² I): a density to draw
        centres = (edges[:, 1:] + edges[:, :-1]) / 2
        analytic = metrics.gaussian_density(centres, std=cur.config.prior_std).numpy()
    fig = teaching_figures.histograms_figure(edges.numpy(), code_density.numpy(), prior_density.numpy(),
                                             analytic=analytic, names=[f"z{i + 1}" for i in dims])
    st.plotly_chart(fig, key="fit_histograms", config={"displaylogo": False})
    if analytic is not None:
        prior_words = f"the dashed red curve is the prior's density N(0, {cur.config.prior_std:g}²)"
    elif learned:
        prior_words = "F(z) is learned, so it has no density to draw: compare with the grey histogram of its samples"
    else:
        prior_words = (f"the {cur.config.prior.replace('_', ' ')} prior has no simple per-dimension density: "
                       "compare with the grey histogram of its samples")
    samples = "samples of F(z)" if learned else "prior samples"
    st.caption(f"Bars: the codes of all {lmap.n_test:,} test images; grey steps: {lmap.prior_z.shape[0]:,} "
               f"{samples}; {prior_words}.")

# --- moments ------------------------------------------------------------------------------------------------
st.subheader("Moments per dimension")
rows = []
for i in range(len(enc["mean"])):
    rows.append({"dimension": f"z{i + 1}",
                 **{f"{name} (codes)": round(float(enc[key][i]), 4) for key, name in
                    (("mean", "mean"), ("std", "std"), ("skewness", "skewness"), ("excess_kurtosis", "kurtosis"))},
                 **{f"{name} (prior)": round(float(pri[key][i]), 4) for key, name in
                    (("mean", "mean"), ("std", "std"), ("skewness", "skewness"), ("excess_kurtosis", "kurtosis"))}})
order = ["dimension"] + [f"{s} ({w})" for s in ("mean", "std", "skewness", "kurtosis") for w in ("codes", "prior")]
rows = [{k: r[k] for k in order} for r in rows]
st.dataframe(rows, hide_index=True, width="stretch")
worst = int(np.argmax(np.abs(np.asarray(enc["std"]) - np.asarray(pri["std"]))))
st.caption(f"Kurtosis is the excess kurtosis (0 for a Gaussian). The dimension whose spread is furthest from the "
           f"prior's is z{worst + 1} (std {enc['std'][worst]:.3f} against {pri['std'][worst]:.3f}). {fit.source}.")
exports.download_csv("Download the moments (CSV)", rows, "prior_fit_moments.csv", "fit_csv")
