"""The explorer as a lecture aid ("A lecture-grade explorer"): what each family's pages say and draw, run
through AppTest from app.py against tiny checkpoints of every family and fake MNIST, and the exports."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import umap_stand_in
from conftest import MAP_CHART, MODEL, click, open_page, save_models, synthetic_images, tiny_config
from streamlit.testing.v1 import AppTest

import aae_core
from aae_core import explore, projection
from aae_core.uploads import read_upload
from explorer import catalog, exports, family_text, tasks
from explorer.figures import DIGIT_COLOURS, ENCODED, PRIOR

REPO = Path(__file__).resolve().parents[1]
FAKE_TEST = synthetic_images(200, seed=2)          # what fake_mnist_dir holds as its test set
MODELS = {
    "unsupervised_gaussian_2d": tiny_config("unsupervised", prior_std=2.0),      # the app's default pick
    "unsupervised_mixture_2d": tiny_config("unsupervised", prior="mixture", label_conditioned=True, n_labels=100),
    "supervised_style_2d": tiny_config("supervised", latent_dim=2),
    "semi_supervised_4d": tiny_config("semi_supervised", latent_dim=4, prior_std=1.5),
    "clustering_16": tiny_config("clustering", n_classes=16, latent_dim=3),
    "vae_2d": tiny_config("vae", latent_dim=2),
    "unsupervised_gaussian_20d": tiny_config("unsupervised", latent_dim=20),
}
METRICS = {  # metrics.json of the evaluated ones (the others are "not evaluated")
    "unsupervised_mixture_2d": {"n_test": 200, "reconstruction": {"mse": 0.039}, "own_component_fraction": 0.9285},
    "semi_supervised_4d": {"n_test": 200, "reconstruction": {"mse": 0.021}, "classification_error": 0.0231},
    "clustering_16": {"n_test": 200, "reconstruction": {"mse": 0.025}, "clustering_error": 0.0912},
    "vae_2d": {"n_test": 200, "reconstruction": {"mse": 0.044}, "prior_fit": {"mmd": 0.0123}},
}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    return save_models(tmp_path_factory.mktemp("checkpoints"), MODELS, METRICS)


def chart(at: AppTest, key: str):
    found = [e for e in at.get("plotly_chart") if e.key == key]
    assert found, f"no plotly chart with key {key}"
    return found[0]


def plotly_spec(at: AppTest, key: str) -> dict:
    return json.loads(chart(at, key).proto.spec)


def texts(at: AppTest) -> list[str]:
    """Every piece of text on the page (markdown, captions, callouts, titles, widget labels)."""
    out = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "subheader")
           for e in getattr(at, kind)]
    out += [w.label for kind in ("radio", "selectbox", "toggle", "slider", "button") for w in getattr(at, kind)]
    out += [o for w in at.radio for o in map(str, w.options)]
    return out


def image_captions(at: AppTest) -> list[list[str]]:
    return [im.captions for im in at.image]


def downloads(at: AppTest) -> dict[str, object]:
    """The page's download buttons by label."""
    return {e.proto.label: e.proto for e in at.get("download_button")}


# --- 1. Fig. 4: label-conditioned priors are drawn in their labels' colours ---------------------------------
def test_label_conditioned_prior_samples_carry_their_labels_into_the_map_and_its_cache(tmp_path):
    test = synthetic_images(120, seed=3)
    folder = aae_core.save(aae_core.build_model(MODELS["unsupervised_mixture_2d"], seed=1), tmp_path / "mix")
    model = aae_core.load(folder)
    fp = catalog.weights_fingerprint(folder)
    lmap = projection.get_map(model, "latent", fingerprint=fp, folder=folder, load_test=lambda: test, n_prior=500)
    np.testing.assert_array_equal(lmap.prior_labels, np.arange(500) % 10)
    import torch

    owner = model.prior.assign(torch.as_tensor(lmap.prior_z)).numpy()
    assert (owner == lmap.prior_labels).mean() > 0.95                # each sample lies in its label's component
    again = projection.load_cached("latent", fp, folder)
    np.testing.assert_array_equal(again.prior_labels, lmap.prior_labels)
    # a cache written before prior_labels existed still loads, without them
    projection.save_cached(projection.LatentMap(**{**lmap.__dict__, "prior_labels": None}), folder)
    assert projection.load_cached("latent", fp, folder).prior_labels is None
    # an unconditioned prior has no labels to draw with
    plain = aae_core.load(aae_core.save(aae_core.build_model(tiny_config("unsupervised", prior="mixture")),
                                        tmp_path / "plain"))
    assert projection.compute_map(plain, test, "latent", fingerprint="p", n_prior=50).prior_labels is None


def test_the_map_colours_a_label_conditioned_prior_by_label_and_shows_the_own_component_share(app, shipped):
    open_page(app, "latent_map", "unsupervised_mixture_2d", shipped)
    [prior] = [t for t in plotly_spec(app, MAP_CHART)["data"] if t["name"] == "prior samples"]
    assert prior["marker"]["color"] == [DIGIT_COLOURS[k % 10] for k in range(projection.DEFAULT_N_PRIOR)]
    assert prior["marker"]["symbol"] == "x"
    assert "drawn for label" in prior["hovertemplate"]
    captions = " ".join(c.value for c in app.caption)
    assert "92.8 %" in captions or "92.9 %" in captions, captions
    assert "own label's part of the prior" in captions
    assert "in the colour of the label it was drawn for" in app.info[0].value
    open_page(app, "latent_map", "unsupervised_gaussian_2d", shipped)   # an unconditioned prior stays grey
    [prior] = [t for t in plotly_spec(app, MAP_CHART)["data"] if t["name"] == "prior samples"]
    assert isinstance(prior["marker"]["color"], str)
    assert "own label's part" not in " ".join(c.value for c in app.caption)


# --- 2. a large map, σ rings, presentation mode ---------------------------------------------------------
def _circles(spec: dict) -> list[dict]:
    """The σ rings: traces drawn after the points (a layout shape lies under WebGL points), as their boxes."""
    def values(arr):
        if isinstance(arr, dict) and "bdata" in arr:
            return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
        return np.asarray(arr, dtype=float)

    rings = [t for t in spec["data"] if re.fullmatch(r"prior \dσ", str(t.get("name")))]
    assert all(spec["data"].index(t) > i for t in rings for i, u in enumerate(spec["data"]) if "customdata" in u)
    boxes = []
    for t in rings:
        x, y = values(t["x"]), values(t["y"])
        boxes.append({"x0": round(float(x.min()), 4), "x1": round(float(x.max()), 4),
                      "y0": round(float(y.min()), 4), "y1": round(float(y.max()), 4), "type": t["type"]})
    return boxes


def test_gaussian_priors_get_sigma_rings_on_latent_and_pca_maps(app, shipped):
    open_page(app, "latent_map")                                          # N(0, 2² I) in 2-D
    spec = plotly_spec(app, MAP_CHART)
    rings = _circles(spec)
    assert [(r["x0"], r["x1"], r["y0"], r["y1"]) for r in rings] == [(-2 * k, 2 * k, -2 * k, 2 * k) for k in (1, 2, 3)]
    assert {r["type"] for r in rings} == {"scattergl"}                    # drawn over the WebGL points
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["1σ", "2σ", "3σ",
                                                                  "200 test images and 2,000 prior samples"]
    assert "1σ, 2σ and 3σ of the Gaussian prior (σ = 2)" in app.info[0].value
    x0, x1 = spec["layout"]["xaxis"]["range"]
    assert x0 <= -6 and x1 >= 6                                           # the 3σ ring is in view

    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map", "semi_supervised_4d", shipped)           # N(0, 1.5² I) in 4-D, seen through PCA
    lmap = projection.load_cached("pca", catalog.weights_fingerprint(shipped / "semi_supervised_4d"),
                                  shipped / "semi_supervised_4d")
    centre = -lmap.pca_mean @ lmap.pca_components
    rings = _circles(plotly_spec(app, MAP_CHART))
    assert len(rings) == 3
    for k, r in zip((1, 2, 3), rings, strict=True):
        assert (r["x0"] + r["x1"]) / 2 == pytest.approx(centre[0], abs=1e-4)
        assert (r["y0"] + r["y1"]) / 2 == pytest.approx(centre[1], abs=1e-4)
        assert r["x1"] - r["x0"] == pytest.approx(2 * 1.5 * k, abs=1e-4)

    open_page(app, "latent_map", "unsupervised_mixture_2d", shipped)      # not Gaussian: no rings
    assert not _circles(plotly_spec(app, MAP_CHART))


def test_the_map_takes_most_of_the_width_and_presentation_mode_makes_it_large(app, shipped):
    open_page(app, "latent_map")
    spec = plotly_spec(app, MAP_CHART)
    assert spec["layout"]["height"] >= 640
    weights = [round(c.weight, 2) for c in app.columns]
    assert 0.7 in weights and 0.3 in weights                              # map 70 %, the decoded point 30 %
    config = json.loads(chart(app, MAP_CHART).proto.config)
    assert config["toImageButtonOptions"]["filename"] == "latent_map_unsupervised_gaussian_2d_latent"

    app.toggle(key="presentation").set_value(True).run()
    assert app.session_state["presentation"] is True
    spec = plotly_spec(app, MAP_CHART)
    # under the header of a 1080-pixel projector, with the decoded point beside it (tests/test_browser_walk.py)
    assert 480 <= spec["layout"]["height"] <= 520 and spec["layout"]["font"]["size"] >= 20
    assert 0.7 in [round(c.weight, 2) for c in app.columns]
    codes = [t for t in spec["data"] if t["name"] == "0"][0]
    assert codes["marker"]["opacity"] == 1.0 and codes["marker"]["size"] >= 7
    assert any("font-size: 20px" in m.value for m in app.markdown)      # larger text everywhere
    open_page(app, "sliders")                                            # it stays on across pages
    assert app.toggle(key="presentation").value is True


# --- 3. the interpolation path keeps its shape and says what is what -------------------------------------
def test_the_interpolation_path_has_equal_axes_and_a_legend(app, shipped):
    open_page(app, "interpolate", "unsupervised_mixture_2d", shipped)
    spec = plotly_spec(app, "path_chart")
    assert spec["layout"]["yaxis"]["scaleanchor"] == "x" and spec["layout"]["showlegend"] is True
    assert [t["name"] for t in spec["data"]] == ["prior samples", "test images (colour: label)", "path A → B"]
    config = json.loads(chart(app, "path_chart").proto.config)
    assert config["toImageButtonOptions"]["filename"] == "unsupervised_mixture_2d_interpolation_path"


# --- 4. each family's own words ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["unsupervised_gaussian_2d", "unsupervised_mixture_2d", "supervised_style_2d",
                                  "semi_supervised_4d", "clustering_16", "vae_2d"])
def test_each_family_says_what_to_look_for_next_to_its_map(app, shipped, name):
    family = MODELS[name].family
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map", name, shipped)
    notes = [m.value for m in app.markdown if "What to look for" in m.value]
    assert notes == [f":material/visibility: **What to look for.** {family_text.of(family.kind).map_note}"]
    page = " ".join(texts(app))
    if family_text.of(family.kind).pulled_by == "kl":
        assert "adversarial" not in page.lower()                        # the VAE has no adversarial game
    if family.classes:                                          # the style maps say the mixing is the point
        assert "mix" in notes[0]
    assert " a unsupervised" not in page


def test_clustering_models_speak_of_their_clusters(app, shipped):
    open_page(app, "style_class", "clustering_16", shipped)
    assert "16 clusters" in app.info[0].value and "0-15" in app.info[0].value
    assert image_captions(app)[-1] == ["Cluster codes 0-15, left to right"]
    app.button(key="add_random").click().run()
    assert [s.value for s in app.subheader] == ["5 styles × 16 clusters"]
    open_page(app, "sliders")
    [selector] = [r for r in app.radio if r.key and r.key.endswith("_class")]
    assert selector.label == "Cluster code y (0-15)" and selector.options == [str(k) for k in range(16)]
    assert any(c == ["Decoded image (cluster 0)"] for c in image_captions(app))
    open_page(app, "interpolate")
    assert app.radio(key="interp_class_mode").label == "Cluster code along the way"
    assert app.radio(key="interp_class_mode").options == ["A's cluster to B's cluster (linear)", "one fixed cluster"]
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map")
    click(app, ENCODED, 4)
    assert plotly_spec(app, "probs_chart")["layout"]["xaxis"]["title"]["text"] == "cluster"
    assert any("cluster probabilities" in m.value and "predicted: cluster" in m.value for m in app.markdown)
    click(app, PRIOR, 2)
    assert any(c == ["Decoded z with cluster 0"] for c in image_captions(app))
    assert ["Cluster codes 0-15, left to right"] in image_captions(app)


def test_a_model_without_a_class_code_is_named_with_the_right_article(app):
    open_page(app, "style_class")
    [note] = [i.value for i in app.info[1:]]
    assert "The picked model (unsupervised AAE, 2-D gaussian prior) has none" in note
    open_page(app, "classes")
    assert any("The picked model (unsupervised AAE, 2-D gaussian prior) has no class head" in i.value for i in app.info)
    for page in ("home", "latent_map", "sliders", "style_class", "interpolate", "classes", "prior_fit"):
        open_page(app, page)
        assert not [t for t in texts(app) if re.search(r"\ba unsupervised", t)], page


# --- 5. Home: every model's headline metric, the whole table on the page ----------------------------------
def test_home_lists_every_model_with_its_family_headline_and_no_empty_cells(app):
    df = app.table[-1].value
    assert list(df.columns) == ["name", "source", "model", "headline metric", "samples the judge is sure of",
                                "reconstruction MSE / pixel"]
    assert len(df) == len(MODELS)
    cells = [str(v) for v in df.to_numpy().ravel()]
    assert not [c for c in cells if c in ("None", "nan", "")]
    rows = {r["name"]: r for r in df.to_dict("records")}
    assert rows["semi_supervised_4d"]["headline metric"] == "test classification error: 2.31 %"
    assert rows["clustering_16"]["headline metric"] == "test clustering error: 9.12 %"
    assert rows["unsupervised_mixture_2d"]["headline metric"] == "codes in their label's part of the prior: 92.8 %" \
        or rows["unsupervised_mixture_2d"]["headline metric"].endswith("92.9 %")
    assert rows["vae_2d"]["headline metric"] == "MMD codes vs prior (lower is closer): 0.0123"
    assert rows["supervised_style_2d"]["headline metric"] == "not evaluated"
    assert rows["semi_supervised_4d"]["reconstruction MSE / pixel"] == "0.0210"


# --- 6. a clicked test image brings its class to the sliders -------------------------------------------------
def test_sliders_start_from_a_clicked_test_image_with_its_label(app, shipped):
    index = 7
    label = int(FAKE_TEST.labels[index])
    assert label != 0                                                     # else the test proves nothing
    open_page(app, "latent_map", "supervised_style_2d", shipped)
    click(app, ENCODED, index)
    open_page(app, "sliders")
    [selector] = [r for r in app.radio if r.key and r.key.endswith("_class")]
    assert selector.value == label
    assert any(c == [f"Decoded image (class {label})"] for c in image_captions(app))
    selector.set_value(0).run()
    app.button(key="start_clicked").click().run()                        # the button brings it back too
    assert [r for r in app.radio if r.key and r.key.endswith("_class")][0].value == label
    open_page(app, "latent_map")
    open_page(app, "sliders")                                             # and it is kept across pages
    assert [r for r in app.radio if r.key and r.key.endswith("_class")][0].value == label


def test_sliders_start_from_a_clicked_test_image_with_the_class_the_model_predicts(app, shipped):
    model = aae_core.load(shipped / "semi_supervised_4d")
    probs = explore.class_probabilities(model, FAKE_TEST.images.numpy())
    index = int(np.flatnonzero(probs.argmax(1) != 0)[0])                  # one the model does not read as 0
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map", "semi_supervised_4d", shipped)
    click(app, ENCODED, index)
    open_page(app, "sliders")
    [selector] = [r for r in app.radio if r.key and r.key.endswith("_class")]
    assert selector.value == int(probs[index].argmax())


# --- 8. UMAP: real stages, and PCA standing in says so -------------------------------------------------------
def _fake_umap(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=umap_stand_in.UMAP))


def test_umap_progress_reports_each_stage_and_every_chunk_of_the_encoding(monkeypatch, tmp_path):
    _fake_umap(monkeypatch)
    monkeypatch.setattr(projection, "ENCODE_CHUNK", 50)
    model = aae_core.build_model(tiny_config("unsupervised", latent_dim=4))
    seen = []
    projection.compute_map(model, synthetic_images(200, seed=3), "umap", fingerprint="f", n_prior=20,
                           progress=lambda f, m: seen.append((f, m)))
    messages = [m for _, m in seen]
    encoding = [m for m in messages if m.startswith("UMAP stage 1 of 3, encoding the test images")]
    assert [m.split(": ")[1] for m in encoding] == ["0 of 200", "50 of 200", "100 of 200", "150 of 200"]
    graph = [m for m in messages if m.startswith("UMAP stage 2 of 3, neighbour graph")]
    assert graph and "compiles UMAP" in graph[0]
    assert "UMAP stage 3 of 3, layout: epoch 100 of 200" in messages
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    stage_of = [int(m.split(" of 3")[0][-1]) for m in messages if m.startswith("UMAP stage")]
    assert stage_of == sorted(stage_of)                                   # the stages come in order


def test_the_pca_standing_in_for_umap_says_so_beside_the_chart(app, shipped, monkeypatch, tmp_path):
    release = umap_stand_in.use_in_workers(monkeypatch, tmp_path, hold=True)
    open_page(app, "latent_map", "unsupervised_gaussian_20d", shipped)
    try:
        assert app.radio(key="map_method").value == "umap"
        assert any(w.value.startswith("**Showing PCA while UMAP fits.**") for w in app.warning)
        spec = plotly_spec(app, MAP_CHART)
        assert spec["layout"]["title"]["text"] == "Showing PCA while UMAP fits (PCA view)"
        assert spec["layout"]["xaxis"]["title"]["text"] == "PC 1"
        assert "UMAP stage" in app.progress[0].proto.text and "s so far" in app.progress[0].proto.text
    finally:
        release.write_text("go")
    fp = catalog.weights_fingerprint(shipped / "unsupervised_gaussian_20d")
    assert tasks.TASKS.get(f"map:{fp}:umap").join(60)
    app.run()
    assert not app.warning and "title" not in plotly_spec(app, MAP_CHART)["layout"]
    assert plotly_spec(app, MAP_CHART)["layout"]["xaxis"]["title"]["text"] == "UMAP 1"


# --- 9. offline ---------------------------------------------------------------------------------------------
def test_the_favicon_is_drawn_by_the_browser_from_an_emoji():
    """Streamlit turns an emoji page_icon into an inline data: SVG (no request); icons and images would be
    fetched (a :material/...: icon from Google's font CDN)."""
    from streamlit.string_util import is_emoji

    [icon] = re.findall(r'page_icon="([^"]+)"', (REPO / "app.py").read_text())
    assert is_emoji(icon)


# --- 10. small things ---------------------------------------------------------------------------------------
def test_the_sidebar_shows_the_whole_model_name(app, shipped):
    open_page(app, "home", "unsupervised_gaussian_20d", shipped)
    assert "**unsupervised_gaussian_20d · shipped**" in [m.value for m in app.sidebar.markdown]


def test_the_class_sweep_of_a_clicked_point_is_one_strip(app, shipped):
    open_page(app, "latent_map", "supervised_style_2d", shipped)
    click(app, PRIOR, 3)
    strips = [im for im in at_images(app) if im.captions == ["Class codes 0-9, left to right"]]
    assert len(strips) == 1 and len(strips[0].value) == 1               # one image, not ten that wrap
    assert "PNG" in downloads(app)


def at_images(at: AppTest):
    return list(at.image)


def test_uploads_are_named_after_their_folder_or_their_kind(app, shipped):
    folder = shipped / "supervised_style_2d"
    app.file_uploader(key="checkpoint_upload").set_value(
        [("whatever.zip", exports.checkpoint_zip(folder, "my_style_model"), "application/zip")]).run()
    picker = app.selectbox(key=MODEL)
    assert picker.value.startswith("upload:") and picker.format_func(picker.value) == "my_style_model · uploaded"
    fresh = aae_core.save(aae_core.build_model(tiny_config("supervised", latent_dim=2), seed=42),
                          shipped.parent / "loose")
    files = [(n, (fresh / n).read_bytes(), "application/octet-stream") for n in ("config.json", "model.safetensors")]
    app.file_uploader(key="checkpoint_upload").set_value(files).run()
    identity = read_upload([(n, b) for n, b, _ in files]).identity
    picker = app.selectbox(key=MODEL)
    assert picker.format_func(picker.value) == f"supervised {identity[:8]} · uploaded"


# --- (f) take it away -------------------------------------------------------------------------------------
def test_home_offers_the_picked_checkpoint_as_a_zip_the_upload_takes_back(app, shipped):
    button = downloads(app)["Download this checkpoint (.zip)"]
    assert button.HasField("deferred_file_id")                           # zipped on a click, not on every visit
    folder = shipped / "semi_supervised_4d"
    data = exports.checkpoint_zip(folder)
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == [
        "semi_supervised_4d/config.json", "semi_supervised_4d/metrics.json", "semi_supervised_4d/model.safetensors"]
    files = read_upload([("semi_supervised_4d.zip", data)])
    assert files.weights == (folder / "model.safetensors").read_bytes()
    assert json.loads(files.metrics) == METRICS["semi_supervised_4d"]
    app.file_uploader(key="checkpoint_upload").set_value([("semi_supervised_4d.zip", data, "application/zip")]).run()
    assert not app.error and app.selectbox(key=MODEL).value == "upload:" + files.identity
    assert any("semi-supervised AAE" in m.value for m in app.markdown)


def test_the_map_page_offers_the_encoded_test_set_as_csv_and_npz(app, shipped):
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map", "semi_supervised_4d", shipped)
    buttons = downloads(app)
    assert {"CSV", "NPZ"} <= set(buttons) and all(buttons[k].HasField("deferred_file_id") for k in ("CSV", "NPZ"))
    assert any("predicted class and probabilities" in m.value for m in app.markdown)
    lmap = projection.load_cached("pca", catalog.weights_fingerprint(shipped / "semi_supervised_4d"),
                                  shipped / "semi_supervised_4d")
    probs = explore.class_probabilities(aae_core.load(shipped / "semi_supervised_4d"), FAKE_TEST.images.numpy())
    npz = np.load(io.BytesIO(exports.encoded_npz(lmap.z, lmap.labels, probs)), allow_pickle=False)
    np.testing.assert_array_equal(npz["z"], lmap.z)
    np.testing.assert_array_equal(npz["labels"], FAKE_TEST.labels.numpy())
    np.testing.assert_array_equal(npz["predicted"], probs.argmax(1))
    lines = exports.encoded_csv(lmap.z, lmap.labels, probs).decode().splitlines()
    assert lines[0] == "index,label,z1,z2,z3,z4,predicted," + ",".join(f"p{k}" for k in range(10))
    assert len(lines) == 1 + len(FAKE_TEST)
    first = lines[1].split(",")
    assert first[:2] == ["0", str(int(FAKE_TEST.labels[0]))] and float(first[2]) == pytest.approx(lmap.z[0, 0], 1e-5)
    open_page(app, "latent_map", "unsupervised_gaussian_2d", shipped)    # no classifier: codes and labels only
    assert any(m.value == "**Take it away: the encoded test set** (codes z, labels)" for m in app.markdown)
    assert exports.encoded_csv(lmap.z[:, :2], lmap.labels).decode().splitlines()[0] == "index,label,z1,z2"


def test_sweeps_grids_and_strips_download_as_png(app, shipped):
    from PIL import Image

    image = (np.arange(6 * 9) * 4).astype(np.uint8).reshape(6, 9)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(exports.png_bytes(image)))), image)
    open_page(app, "style_class", "supervised_style_2d", shipped)
    assert "PNG" in downloads(app)
    app.button(key="add_random").click().run()
    assert "Download the grid (PNG)" in downloads(app)
    open_page(app, "interpolate")
    assert "Download the strip (PNG)" in downloads(app)


