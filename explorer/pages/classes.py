"""Classes & clusters: what the model's class head does with the test set (paper Table 2, Table 3, Fig. 9)."""

import numpy as np
import streamlit as st
import torch

from aae_core import explore, metrics
from aae_core import metric_schema as S
from explorer import evaluation, exports, map_view, models, picker, state, teaching_figures

cur = picker.require_model()
family = cur.family
st.title("Classes & clusters")
intro = st.empty()
if not family.classes.predicted:
    state.explain(
        "Semi-supervised and clustering AAEs have a class head: the encoder gives a one-hot-like code y beside the "
        "style z. This page shows what that head does with the test set: a confusion matrix, the map coloured by "
        "y, and the images each class or cluster gathers.", intro)
    st.info(f"The picked model ({cur.description}) has no class head, so there is nothing to count here. "
            "Pick a semi-supervised or clustering model in the sidebar (The paper page opens Table 2's and "
            "Table 3's).", icon=":material/category:")
    st.stop()

noun, k = family.classes.noun, cur.config.n_classes
plural = noun + ("es" if noun.endswith("s") else "s")
state.explain(
    f"{cur.words.explanation} Below: every test image counted by its true digit (rows) and the {noun} the model "
    f"gives it (columns), the map coloured by the model's {noun} instead of the label, and the images each "
    f"{noun} gathered." + ("" if family.classes.means_label else
                           " A cluster has no name of its own: it takes the digit most of its images carry (paper "
                           "§6), and its purity is the share of its images that carry that digit."), intro)

test = models.test_set(cur.config.dataset)
probs = evaluation.test_probabilities(cur)
if test is None or probs is None:
    st.stop()
labels = test.labels.cpu().numpy()
predicted = probs.argmax(1)
n_labels = int(labels.max()) + 1
cm = metrics.confusion_matrix(torch.from_numpy(labels), torch.from_numpy(predicted), n_labels, k)
report = metrics.cluster_report(cm)
majority = np.array([r["label"] for r in report])
if family.classes.means_label:
    error = float((predicted != labels).mean())
    order, names = list(range(k)), [str(c) for c in range(k)]
    what, recorded = "classification error", S.CLASSIFICATION_ERROR.read(cur.metrics)
else:
    error = float((majority[predicted] != labels).mean())
    order = sorted(range(k), key=lambda c: (report[c]["label"] if report[c]["size"] else 99, -report[c]["purity"]))
    names = [f"{c}→{report[c]['label']}" if report[c]["size"] else f"{c} (empty)" for c in order]
    what, recorded = "clustering error", S.CLUSTERING_ERROR.read(cur.metrics)

c1, c2, c3 = st.columns(3)
c1.metric(f"Test {what}", f"{100 * error:.2f} %", help=f"measured here on {len(labels):,} test images")
if recorded is not None:
    c2.metric("in metrics.json", f"{100 * recorded:.2f} %",
              help=f"{S.N_TEST.show(cur.metrics) or 0} test images, written by aae_core.evaluate")
c3.metric(f"{plural.capitalize()} used", f"{int((cm.sum(0) > 0).sum())} of {k}")

st.subheader("Confusion matrix")
st.plotly_chart(teaching_figures.confusion_figure(cm.numpy(), noun=noun, column_order=order, column_names=names,
                                                  height=380 + 6 * max(0, k - 10)), key="confusion_chart")
st.caption("Rows: true digits; columns: the model's " + plural + ("" if family.classes.means_label else
           ", sorted by the digit each one is named after (k→d: cluster k, majority digit d)") +
           ". Each cell holds a count; its colour is the share of the column.")
rows = [{"digit": d, **{f"{noun} {c}": int(cm[d, c]) for c in range(k)}} for d in range(n_labels)]
exports.download_csv("Download the confusion matrix (CSV)", rows, "confusion_matrix.csv", "confusion_csv")

if not family.classes.means_label:
    st.subheader("Cluster → digit")
    st.dataframe([{"cluster": r["cluster"], "majority digit": str(r["label"]) if r["size"] else "—",
                   "images": r["size"], "purity": f"{100 * r['purity']:.1f} %" if r["size"] else "—"}
                  for r in (report[c] for c in order)], hide_index=True, width="stretch")
    taken = sorted({int(r["label"]) for r in report if r["size"]})
    missing = [d for d in range(n_labels) if d not in taken]
    st.caption(f"Digits with at least one cluster: {', '.join(map(str, taken))}."
               + (f" No cluster is named after {', '.join(map(str, missing))}: those images count as errors."
                  if missing else ""))

st.subheader(f"The map, coloured by the model's {noun}")
lmap = evaluation.map_of(cur)
if lmap is not None:
    label_names = {c: f"{noun} {c}" + ("" if family.classes.means_label or not report[c]["size"]
                                       else f" (→{report[c]['label']})") for c in range(k)}
    map_view.map_chart(lambda: cur, lmap, teaching_figures.prediction_map_figure(
        lmap, predicted, noun=noun, names=[label_names[c] for c in range(k)]), key="prediction_map", clickable=False)
    st.caption(f"{cur.words.map_note} Here the colours are the model's {plural}, not the labels: compare with the "
               "Latent map page.")

st.subheader(f"What each {noun} gathered")
source = st.radio("Show", [f"test images assigned to each {noun}", f"prior styles decoded with each {noun} code"],
                  horizontal=True, key="classes_grid_source")
per_row = int(st.slider("Per row", 4, 16, 10, key="classes_per_row"))
if source.startswith("test"):
    grid = evaluation.cluster_grid(test.images.cpu().numpy(), probs, order, per_row)
    caption = (f"Row by row, each {noun} ({', '.join(names)}), its {per_row} most confident test images "
               "(black: fewer assigned).")
else:
    styles = explore.prior_samples(cur.model, per_row, seed=0)
    grid = explore.class_sweep(cur.model, styles).transpose(1, 0, 2, 3)[order]
    caption = (f"Row by row, each {noun} code ({', '.join(names)}) decoded with the same {per_row} prior styles "
               "(columns): the paper's Fig. 9.")
st.image(exports.strip(grid, scale=2), caption=caption)
exports.download_png("Download the grid (PNG)", grid, f"{noun}_grid.png", "classes_grid_png", scale=2)
