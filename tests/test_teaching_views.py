"""The teaching pages (Compare, Prior fit, Classes & clusters, Draw a digit, The paper), run through AppTest
from app.py against tiny checkpoints and fake MNIST."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_images, tiny_config
from streamlit.testing.v1 import AppTest

import aae_core
from aae_core.checkpoint import save_metrics

REPO = Path(__file__).resolve().parents[1]
MODEL = "model_ref"
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
FIT = {"encoded": {"mean": [0.5, 0.1], "std": [2.0, 5.1], "skewness": [0.3, 0.0], "excess_kurtosis": [1.0, 0.1]},
       "prior": {"mean": [0.0, 0.0], "std": [5.0, 5.0], "skewness": [0.0, 0.0], "excess_kurtosis": [0.0, 0.0]},
       "mmd": 0.0123, "mmd_same_prior": -0.0002}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkpoints")
    for seed, (name, config) in enumerate(MODELS.items()):
        aae_core.save(aae_core.build_model(config, seed=seed), root / name)
    save_metrics(root / "unsupervised_gaussian_2d", {"n_test": 200, "prior_fit": FIT})
    save_metrics(root / "semi_supervised_100", {"n_test": 200, "classification_error": 0.0291})
    save_metrics(root / "clustering_16", {"n_test": 200, "clustering_error": 0.307})
    return root


@pytest.fixture
def app(shipped, fake_mnist_dir, tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("AAE_CHECKPOINTS_DIR", str(shipped))
    monkeypatch.setenv("AAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("AAE_DATA_DIR", fake_mnist_dir)
    monkeypatch.setenv("AAE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def ref(shipped: Path, name: str) -> str:
    return str((shipped / name).resolve())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(at: AppTest, page: str, model: str | None = None, shipped: Path | None = None) -> AppTest:
    if model is not None:
        at.selectbox(key=MODEL).set_value(ref(shipped, model)).run()
    at.switch_page(f"explorer/pages/{page}.py").run()
    return ok(at)


def charts(at: AppTest) -> dict[str, dict]:
    return {e.key: json.loads(e.proto.spec) for e in at.get("plotly_chart")}


def values(arr) -> np.ndarray:
    """A plotly array as sent to the browser (a list, or Plotly 6+'s {"bdata", "dtype"})."""
    if isinstance(arr, dict) and "bdata" in arr:
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return np.asarray(arr)


def images(at: AppTest) -> list[tuple[list[str], list[str]]]:
    return [(im.value, im.captions) for im in at.image]


def test_the_new_pages_are_in_the_navigation():
    text = (REPO / "app.py").read_text()
    for page in ("compare", "prior_fit"):
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
    [table] = app.table
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
    assert [m.value for m in app.metric][:2] == ["0.0123", "-0.0002"]
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
