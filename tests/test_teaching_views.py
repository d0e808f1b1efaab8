"""The teaching pages (Compare, Prior fit, Classes & clusters, Draw a digit, The paper), run through AppTest
from app.py against tiny checkpoints and fake MNIST."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIT, MODEL, ok, open_page, ref, save_models, synthetic_images, tiny_config
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer import exports

REPO = Path(__file__).resolve().parents[1]
FAKE_TEST = synthetic_images(200, seed=2)          # what fake_mnist_dir holds as its test set
# Named as the shipped checkpoints (and recipes) they stand in for.
MODELS = {
    "unsupervised_gaussian_2d": tiny_config("unsupervised", prior_std=5.0),
    "vae_2d": tiny_config("vae", latent_dim=2),
    "semi_supervised_100": tiny_config("semi_supervised", latent_dim=4),
    "clustering_16": tiny_config("clustering", latent_dim=3, n_classes=16),
    "supervised_style_2d": tiny_config("supervised", latent_dim=2),
    "unsupervised_gaussian_20d": tiny_config("unsupervised", latent_dim=20),
}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    return save_models(tmp_path_factory.mktemp("checkpoints"), MODELS, {
        "unsupervised_gaussian_2d": {"n_test": 200, "prior_fit": FIT},
        "semi_supervised_100": {"n_test": 200, "classification_error": 0.0291},
        "clustering_16": {"n_test": 200, "clustering_error": 0.307}})


def charts(at: AppTest) -> dict[str, dict]:
    return {e.key: json.loads(e.proto.spec) for e in at.get("plotly_chart")}


def values(arr) -> np.ndarray:
    """A plotly array as sent to the browser (a list, or Plotly 6+'s {"bdata", "dtype"})."""
    if isinstance(arr, dict) and "bdata" in arr:
        flat = np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
        return flat.reshape([int(v) for v in str(arr["shape"]).split(",")]) if "shape" in arr else flat
    return np.asarray(arr)


def images(at: AppTest) -> list[tuple[list[str], list[str]]]:
    return [(im.value, im.captions) for im in at.image]


@pytest.fixture
def served(monkeypatch) -> dict[str, bytes]:
    """What the pages' download buttons serve, by file name (AppTest's media store goes with its run)."""
    got: dict[str, bytes] = {}
    for name in ("download_png", "download_csv"):
        real = getattr(exports, name)

        def spy(label, data, file_name, key, *args, _real=real, _maker=name, **kwargs):
            _real(label, data, file_name, key, *args, **kwargs)
            if _maker == "download_csv":
                got[file_name] = exports.csv_bytes(data)
            else:
                got[file_name] = exports.png_bytes(exports.strip(data, scale=kwargs.get("scale", 3)))

        monkeypatch.setattr(exports, name, spy)
    return got


def png_image(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(data)))


def test_the_new_pages_are_in_the_navigation():
    text = (REPO / "app.py").read_text()
    for page in ("compare", "prior_fit", "classes", "draw", "paper"):
        assert f"{{PAGES}}/{page}.py" in text and (REPO / "explorer" / "pages" / f"{page}.py").is_file()


# --- Compare ----------------------------------------------------------------------------------------
def test_compare_opens_on_the_aae_and_the_vae_with_the_same_axes(app, shipped):
    open_page(app, "compare")
    assert app.selectbox(key="compare_a").value == ref(shipped, "unsupervised_gaussian_2d")
    assert app.selectbox(key="compare_b").value == ref(shipped, "vae_2d")
    maps = charts(app)
    a, b = maps["compare_map_a"], maps["compare_map_b"]
    assert {str(d) for d in range(10)} <= {t.get("name") for t in a["data"]}
    assert a["layout"]["xaxis"]["range"] == b["layout"]["xaxis"]["range"]
    assert a["layout"]["yaxis"]["range"] == b["layout"]["yaxis"]["range"]
    # the AAE's prior has σ = 5, the VAE's 1: the shared range holds the wider one
    assert a["layout"]["xaxis"]["range"][1] > 8
    app.toggle(key="compare_same_axes").set_value(False).run()
    ok(app)
    maps = charts(app)
    assert maps["compare_map_a"]["layout"]["xaxis"]["range"] != maps["compare_map_b"]["layout"]["xaxis"]["range"]


def test_compare_shows_prior_fit_reconstructions_and_samples_of_both(app, shipped):
    open_page(app, "compare")
    [table] = [t for t in app.table if "statistic" in t.value.columns]       # the prior fit's (then sample quality)
    df = table.value
    assert list(df.columns) == ["statistic", "model A", "model B"]
    assert df.iloc[0]["model A"] == "0.0123"                                  # from A's metrics.json
    assert df.iloc[-1]["model A"].startswith("metrics.json")
    assert df.iloc[-1]["model B"].startswith("measured here on 200")          # B has none: measured
    verdicts = [e.value for e in [*app.success, *app.warning, *app.error]]
    assert any(v.startswith("Model A: The codes do not match the prior") for v in verdicts), verdicts
    assert any(v.startswith("Model B:") for v in verdicts)
    test_row = [u for u, c in images(app) if c and c[0] == str(int(FAKE_TEST.labels[0]))]
    assert test_row and len(test_row[0]) == 10
    rec_a = [u for u, c in images(app) if c and c[0] == "A 0"]
    rec_b = [u for u, c in images(app) if c and c[0] == "B 0"]
    assert len(rec_a) == 1 and len(rec_b) == 1 and rec_a != rec_b
    app.slider(key="compare_n").set_value(5).run()
    assert len([u for u, c in images(app) if c and c[0] == "A 0"][0]) == 5
    samples = [u for u, c in images(app) if c and c[0] == "sample 0"]
    assert len(samples) == 2 and all(len(s) == 10 for s in samples)
    before = samples
    app.number_input(key="compare_seed").set_value(3).run()
    assert [u for u, c in images(app) if c and c[0] == "sample 0"] != before
    assert {b.proto.label for b in app.get("download_button")} >= {"Download these rows (PNG)", "Download (PNG)"}


def test_compare_any_two_models_even_with_class_codes_and_other_sizes(app, shipped):
    open_page(app, "compare")
    app.selectbox(key="compare_a").set_value(ref(shipped, "clustering_16")).run()
    app.selectbox(key="compare_b").set_value(ref(shipped, "unsupervised_gaussian_20d")).run()
    ok(app)
    maps = charts(app)
    assert maps["compare_map_a"]["layout"]["xaxis"]["title"]["text"] == "PC 1"
    assert [u for u, c in images(app) if c and c[0] == "cluster 0"]           # A's samples cycle its clusters
    app.selectbox(key="compare_b").set_value(ref(shipped, "supervised_style_2d")).run()
    ok(app)
    assert app.toggle(key="compare_same_axes").disabled                        # PCA beside a latent map


# --- Prior fit --------------------------------------------------------------------------------------
def test_prior_fit_from_metrics_json_gives_histograms_moments_and_a_verdict(app):
    open_page(app, "prior_fit")
    assert any("Keras AAE" in i.value for i in app.info)
    [verdict] = app.error
    assert verdict.value.startswith("The codes do not match the prior: MMD 0.0123 is 41x")
    assert [m.value for m in app.metric][:2] == ["0.0123", "0.0003"]           # the reference the verdict uses
    spec = charts(app)["fit_histograms"]
    names = {t.get("name") for t in spec["data"]}
    assert names == {"codes of test images", "prior samples", "prior density"}
    assert sum(t.get("name") == "codes of test images" for t in spec["data"]) == 2   # one panel per dimension
    df = app.dataframe[0].value
    assert list(df["dimension"]) == ["z1", "z2"] and df.iloc[0]["std (codes)"] == 2.0
    assert df.iloc[0]["std (prior)"] == 5.0
    assert any("z1" in c.value and "furthest" in c.value for c in app.caption)
    app.slider(key="fit_bins").set_value(20).run()
    bars = [t for t in charts(app)["fit_histograms"]["data"] if t["type"] == "bar"]
    assert len(values(bars[0]["x"])) == 20


def test_prior_fit_is_measured_when_there_is_no_metrics_json_and_caps_the_panels(app, shipped):
    open_page(app, "prior_fit", "unsupervised_gaussian_20d", shipped)
    assert any("measured here on 200 test images" in c.value for c in app.caption)
    assert len([*app.success, *app.warning, *app.error]) == 1
    spec = charts(app)["fit_histograms"]
    assert sum(t.get("name") == "codes of test images" for t in spec["data"]) == 16
    app.number_input(key="fit_first").set_value(5).run()
    titles = [a["text"] for a in charts(app)["fit_histograms"]["layout"]["annotations"]]
    assert titles[0] == "z5" and titles[-1] == "z20"
    assert len(app.dataframe[0].value) == 20


def test_prior_fit_of_a_vae_says_it_has_no_discriminator(app, shipped):
    open_page(app, "prior_fit", "vae_2d", shipped)
    assert any("no discriminator" in i.value for i in app.info)
    open_page(app, "prior_fit", "semi_supervised_100", shipped)
    assert any("one-hot code" in i.value for i in app.info)


def test_prior_fit_moments_download_as_csv(app, served):
    open_page(app, "prior_fit")
    rows = list(csv.DictReader(io.StringIO(served["prior_fit_moments.csv"].decode())))
    assert [r["dimension"] for r in rows] == ["z1", "z2"] and float(rows[1]["std (codes)"]) == 5.1


def test_compare_downloads_the_reconstruction_rows_as_png(app, served):
    open_page(app, "compare")
    image = png_image(served["reconstructions.png"])
    assert image.shape == (3 * (28 + 2) * 3 - 2 * 3, 10 * (28 + 2) * 3 - 2 * 3)   # 3 rows x 10 images, x3
    assert png_image(served["prior_samples_a.png"]).shape[1] == image.shape[1]


# --- The paper --------------------------------------------------------------------------------------
def test_paper_page_puts_the_papers_numbers_beside_ours(app):
    open_page(app, "paper")
    headers = [h.value for h in app.subheader]
    for label in ("Fig. 2", "Fig. 4", "Fig. 6", "Table 2", "Table 3"):
        assert any(h.startswith(label) for h in headers), headers
    text = " ".join(m.value for m in app.markdown)
    assert "Paper: **1.90 %** · ours: **2.91 %**" in text                 # semi_supervised_100's metrics.json
    assert "Paper: **9.55 %** · ours: **30.70 %**" in text                # clustering_16's
    assert "Paper: **1.60 %** · ours" not in text                          # semi_supervised_1000 is not shipped here
    captions = " ".join(c.value for c in app.caption)
    assert "1.01 points worse than the paper's" in captions and "3.2x its error" in captions
    assert "--recipe semi_supervised_1000" in captions                     # how to get what is missing
    assert any("512-unit layers" in i.value for i in app.info)              # honest about the gap


@pytest.mark.parametrize("button, page, model", [
    ("paper_semi_supervised_100", "Classes & clusters", "semi_supervised_100"),
    ("paper_clustering_16", "Classes & clusters", "clustering_16"),
    ("paper_supervised_style_2d", "Style × class", "supervised_style_2d"),
])
def test_paper_buttons_pick_the_model_and_open_its_page(app, shipped, button, page, model):
    open_page(app, "paper")
    app.button(key=button).click().run()
    ok(app)
    assert app.selectbox(key=MODEL).value == ref(shipped, model)
    assert app.title[0].value == page


def test_paper_fig2_opens_compare_on_the_aae_and_the_vae(app, shipped):
    open_page(app, "paper")
    app.button(key="paper_unsupervised_gaussian_2d").click().run()
    ok(app)
    assert app.title[0].value == "Compare two models"
    assert app.selectbox(key="compare_a").value == ref(shipped, "unsupervised_gaussian_2d")
    assert app.selectbox(key="compare_b").value == ref(shipped, "vae_2d")


# --- Classes & clusters -----------------------------------------------------------------------------
def test_classes_page_for_a_semi_supervised_model(app, shipped, served):
    open_page(app, "classes", "semi_supervised_100", shipped)
    spec = charts(app)["confusion_chart"]
    counts = values(spec["data"][0]["text"])
    assert counts.shape == (10, 10) and counts.sum() == len(FAKE_TEST)
    assert [m.label for m in app.metric][:2] == ["Test classification error", "in metrics.json"]
    assert app.metric[1].value == "2.91 %"
    pred_map = charts(app)["prediction_map"]
    assert all(t["name"].startswith("class ") for t in pred_map["data"])
    assert sum(len(values(t["x"])) for t in pred_map["data"]) == len(FAKE_TEST)
    grid = [u for u, c in images(app) if c and c[0].startswith("Row by row")]
    assert grid
    rows = list(csv.DictReader(io.StringIO(served["confusion_matrix.csv"].decode())))
    assert len(rows) == 10 and sum(int(v) for r in rows for k, v in r.items() if k != "digit") == len(FAKE_TEST)
    image = png_image(served["class_grid.png"])
    assert image.shape == (10 * 30 * 2 - 4, 10 * 30 * 2 - 4)
    app.radio(key="classes_grid_source").set_value("prior styles decoded with each class code").run()
    ok(app)
    assert any(c[0].startswith("Row by row, each class code") for _, c in images(app) if c)


def test_clusters_are_named_after_their_majority_digit_with_their_purity(app, shipped, served):
    open_page(app, "classes", "clustering_16", shipped)
    assert app.metric[0].label == "Test clustering error" and app.metric[1].value == "30.70 %"
    table = app.dataframe[0].value
    assert list(table.columns) == ["cluster", "majority digit", "images", "purity"]
    assert len(table) == 16 and table["images"].sum() == len(FAKE_TEST)
    used = table[table["images"] > 0]
    majority = used["majority digit"].astype(int).tolist()
    assert majority == sorted(majority)                                     # sorted by the digit they stand for
    names = charts(app)["confusion_chart"]["data"][0]["x"]
    assert all("→" in n or "empty" in n for n in names)
    app.slider(key="classes_per_row").set_value(4).run()
    assert png_image(served["cluster_grid.png"]).shape == (16 * 30 * 2 - 4, 4 * 30 * 2 - 4)


def test_classes_page_explains_itself_for_models_without_a_class_head(app):
    open_page(app, "classes")
    assert not app.get("plotly_chart")
    assert any("no class head" in i.value for i in app.info)


# --- Draw a digit -----------------------------------------------------------------------------------
def canvas_state(image: np.ndarray) -> dict:
    """What the canvas sends after a stroke: its drawing with the canvas as a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


def a_seven() -> np.ndarray:
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[40:62, 60:220, :3] = 255                       # the bar
    for i in range(180):                                   # the diagonal
        r, c = 60 + i, 210 - i // 2
        canvas[r:r + 20, c:c + 20, :3] = 255
    return canvas


def draw(at: AppTest, image: np.ndarray) -> AppTest:
    at.session_state["draw_canvas"] = canvas_state(image)
    return ok(at.run())


def test_drawing_a_digit_shows_it_prepared_its_reconstruction_and_where_it_lands(app, shipped, served):
    open_page(app, "draw", "semi_supervised_100", shipped)
    assert any("Draw a digit on the canvas" in i.value for i in app.info)
    assert not app.image
    draw(app, a_seven())
    row = [(u, c) for u, c in images(app) if c and c[0].startswith("What the model sees")]
    assert row and row[0][1] == ["What the model sees (28×28)", "Reconstruction"]
    drawn = np.asarray(app.session_state["drawn_digit"], np.uint8)
    assert drawn.shape == (28, 28) and drawn.max() == 255
    ink = np.argwhere(drawn > 12)
    assert ink[:, 0].max() - ink[:, 0].min() + 1 == 20                    # scaled to the 20-pixel box
    assert charts(app)["draw_probs"]["data"][0]["type"] == "bar"           # class probabilities
    spec = charts(app)["draw_map"]
    star = [t for t in spec["data"] if t.get("name") == "your digit"]
    assert star and len(star[0]["x"]) == 1
    assert spec["layout"]["xaxis"]["title"]["text"] == "PC 1"               # 4-D: PCA places any code
    png = png_image(served["drawn_digit.png"])
    assert png.shape == (28 * 6, 2 * 28 * 6 + 2 * 6)
    assert [u for u, c in images(app) if c and c[0].startswith("#")]       # nearest test images


def test_a_drawn_digit_starts_the_sliders_the_class_sweep_and_an_interpolation(app, shipped):
    open_page(app, "draw", "semi_supervised_100", shipped)
    draw(app, a_seven())
    app.button(key="draw_to_style").click().run()
    ok(app)
    assert app.title[0].value == "Style × class"
    assert app.selectbox(key="style_source").value == "Drawn digit"
    assert any(c and c[0] == "your drawn digit" for _, c in images(app))
    z = list(app.session_state["selected"].z)
    app.switch_page("explorer/pages/draw.py").run()
    draw(app, a_seven())
    app.button(key="draw_to_sliders").click().run()
    ok(app)
    assert app.title[0].value == "Decoder sliders"
    assert [s.value for s in app.slider if s.label.startswith("z")] == pytest.approx(z, abs=0.05)
    app.switch_page("explorer/pages/draw.py").run()
    draw(app, a_seven())
    app.button(key="draw_to_interp").click().run()
    ok(app)
    assert app.title[0].value == "Interpolate"
    assert app.selectbox(key="interp_a_source").value == "Drawn digit"


def test_drawing_for_a_model_that_decodes_through_the_label_asks_which_digit(app, shipped):
    open_page(app, "draw", "supervised_style_2d", shipped)
    draw(app, a_seven())
    assert app.radio(key="draw_label").value is None                         # no digit assumed
    app.radio(key="draw_label").set_value(7).run()
    before = [u for u, c in images(app) if c and c[0].startswith("What the model sees")][0]
    app.radio(key="draw_label").set_value(1).run()
    after = [u for u, c in images(app) if c and c[0].startswith("What the model sees")][0]
    assert before[1] != after[1]                                             # rebuilt as a 7, then as a 1
    spec = charts(app)["draw_map"]
    assert spec["layout"]["xaxis"]["title"]["text"] == "z₁"
    assert not [e for e in app.get("plotly_chart") if e.key == "draw_probs"]
