"""What a lecturer's walk through every page found (issue 16 §4-§6), each checked through AppTest from app.py
against tiny checkpoints and fake MNIST: Compare's order, one sample-quality number, ALAE's learned prior,
the prior fit's reference, the prior's σ, uploads, the interpolation path, Draw with a supervised model,
presentation mode and a view that a link can share."""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIT, MODEL, ok, open_page, ref, save_models, tiny_config
from PIL import Image
from streamlit.testing.v1 import AppTest

MODELS = {
    "unsupervised_gaussian_2d": tiny_config("unsupervised", prior_std=5.0),
    "vae_2d": tiny_config("vae", latent_dim=2),
    "supervised_style_2d": tiny_config("supervised", latent_dim=2),
    # label-conditioned (its style D sees the class): the option's model walks every page
    "semi_supervised_100": tiny_config("semi_supervised", latent_dim=4, label_conditioned=True),
    "clustering_16": tiny_config("clustering", latent_dim=3, n_classes=16),
    "alae_mnist": tiny_config("alae", latent_dim=4),
}
QUALITY = {"sure_fraction": 0.875, "digit_shares": [0.1, 0.12, 0.08, 0.1, 0.1, 0.041, 0.1, 0.129, 0.12, 0.1],
           "min_digit_share": 0.041, "n_samples": 10000, "sure_threshold": 0.9}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    root = save_models(tmp_path_factory.mktemp("checkpoints"), MODELS, {
        "unsupervised_gaussian_2d": {"n_test": 200, "prior_fit": FIT, "sample_quality": QUALITY,
                                     "reconstruction": {"mse": 0.0512}},
        "semi_supervised_100": {"n_test": 200, "prior_class_sweep": {
            "accuracy": 0.87, "per_class": [0.9, 0.95, 0.8, 0.85, 0.9, 0.62, 0.9, 0.93, 0.95, 0.9], "n_styles": 100,
            "n_images": 1000, "judge_test_accuracy": 0.99}}})
    config = json.loads((root / "vae_2d" / "config.json").read_text())
    config["progress"] = {"epoch": 1, "step": 1}                          # a run stopped after one epoch
    (root / "vae_2d" / "config.json").write_text(json.dumps(config))
    return root


def in_order(at: AppTest) -> list:
    """Every element of the page's main area in the order it appears on screen (columns left to right)."""
    out = []

    def walk(node) -> None:
        children = getattr(node, "children", None)
        if children is None:
            out.append(node)
            return
        for key in sorted(children):
            walk(children[key])

    walk(at.main)
    return out


def position(elements: list, predicate, what: str) -> int:
    found = [i for i, e in enumerate(elements) if predicate(e)]
    assert found, f"nothing on the page is {what}"
    return found[0]


def is_heading(text: str):
    return lambda e: e.type == "subheader" and e.value.startswith(text)


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error")
             for e in getattr(at, kind)]
    return " ".join(str(p) for p in parts)


def values(arr) -> np.ndarray:
    """A plotly array as sent to the browser (a list, or Plotly 6+'s {"bdata", "dtype"})."""
    if isinstance(arr, dict) and "bdata" in arr:
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return np.asarray(arr, dtype=float)


def table_rows(table) -> dict[str, list[str]]:
    """An st.table as {first column's value: the other cells}."""
    frame = table.value
    return {str(row.iloc[0]): [str(v) for v in row.iloc[1:]] for _, row in frame.iterrows()}



def draw_a_one(app) -> None:
    """What the Draw page's canvas sends for a white vertical stroke (a 1) on black, then the page's run."""
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[60:220, 120:150, :3] = 255
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    app.session_state["draw_canvas"] = {"drawing": {"raw": {"objects": [{"type": "path"}]},
                                                    "data": "data:image/png;base64," +
                                                            base64.b64encode(buf.getvalue()).decode()},
                                        "backgroundFit": None}
    ok(app.run())

# --- 2. Compare in order -----------------------------------------------------------------------------------
def test_compare_puts_maps_verdicts_and_samples_under_their_own_headings(app):
    open_page(app, "compare")
    page = in_order(app)
    maps = position(page, is_heading("Latent maps"), "the maps' heading")
    fit = position(page, is_heading("How well the codes fit"), "the prior fit's heading")
    recon = position(page, is_heading("Reconstructions"), "the reconstructions' heading")
    samples = position(page, is_heading("Samples of each prior"), "the samples' heading")
    chart = position(page, lambda e: getattr(e, "key", None) == "compare_map_a", "model A's map")
    verdict = position(page, lambda e: e.type in ("success", "warning", "error") and e.value.startswith("Model A:"),
                       "model A's verdict")
    seed = position(page, lambda e: getattr(e, "key", None) == "compare_seed", "the seed box")
    decoded = [i for i, e in enumerate(page) if e.type == "markdown" and e.value.startswith("**Model A**")]
    assert decoded and decoded[-1] > samples, "model A's decoded prior samples are not under their heading"
    assert maps < chart < fit < verdict < recon < samples < seed < decoded[-1]


# --- §4 one sample-quality number, on Home and on Compare ----------------------------------------------------
def test_home_and_compare_show_the_share_of_decoded_prior_samples_the_judge_is_sure_of(app):
    facts = table_rows(app.table[0])
    assert facts["decoded prior samples the digit judge is sure of"] == ["87.5 % (fewest: 5, 4.1 % of samples)"]
    models = app.table[1].value
    column = "samples the judge is sure of"
    by_name = dict(zip(models["name"], models[column], strict=True))
    assert by_name["unsupervised_gaussian_2d"] == "87.5 % (fewest: 5, 4.1 % of samples)"
    assert by_name["vae_2d"] == "not evaluated"

    open_page(app, "compare")
    [quality] = [t for t in app.table if "decoded prior samples" in t.value.columns]
    rows = table_rows(quality)
    assert rows["the judge is sure of"] == ["87.5 %", "not evaluated"]
    assert rows["read as 5"] == ["4.1 %", "not evaluated"] and len(rows) == 11
    assert "digit classifier trained on real MNIST" in texts(app)


# --- 9. the prior fit's reference is the one the verdict uses ----------------------------------------------
def test_prior_fit_shows_the_reference_the_verdict_uses_never_a_negative_mmd(app):
    open_page(app, "prior_fit")
    shown = {m.label: m.value for m in app.metric}
    assert "MMD prior vs itself" not in shown and not any(v.startswith("-") for v in shown.values())
    assert shown["same-prior reference"] == "0.0003"
    assert "reference (0.0003)" in texts(app)                      # the verdict names the same number
    open_page(app, "compare")
    [fit] = [t for t in app.table if "statistic" in t.value.columns]
    rows = table_rows(fit)
    assert rows["same-prior reference (the verdict's scale)"][0] == "0.0003"
    open_page(app, "home")
    assert table_rows(app.table[0])["MMD codes vs prior (lower is closer)"] == ["0.0123 (same-prior reference 0.0003)"]
    assert not any(v.startswith("-") for cells in rows.values() for v in cells)


# --- 10. Home shows the prior's σ --------------------------------------------------------------------------
def test_home_shows_the_priors_sigma(app):
    assert table_rows(app.table[0])["prior"] == ["gaussian, σ = 5"]


# --- §4 ALAE is explained as ALAE -------------------------------------------------------------------------
def test_alae_codes_are_compared_with_its_learned_f_of_z_on_every_page(app, shipped):
    open_page(app, "home", "alae_mnist", shipped)
    assert "F(z)" in table_rows(app.table[0])["prior"][0]
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map")
    assert "F(z)" in app.info[0].value and "prior p(z)" not in app.info[0].value
    spec = json.loads([e for e in app.get("plotly_chart") if e.key == "latent_map_chart"][0].proto.spec)
    assert not [s for s in spec["layout"].get("shapes", []) if s["type"] == "circle"]      # no N(0, 1) rings
    assert not [t for t in spec["data"] if "σ" in str(t.get("name"))]
    open_page(app, "prior_fit")
    assert "F(z)" in app.info[0].value
    hist = json.loads([e for e in app.get("plotly_chart") if e.key == "fit_histograms"][0].proto.spec)
    assert not [t for t in hist["data"] if t.get("name") == "prior density"]               # F(z) has no formula
    assert "samples of F(z)" in texts(app)
    open_page(app, "interpolate")
    assert "F(z)" in app.info[0].value
    open_page(app, "sliders")
    assert "F(z)" in app.info[0].value
    app.session_state["compare_a"] = ref(shipped, "alae_mnist")
    open_page(app, "compare")
    assert any("codes matched to: the learned distribution F(z)" in c.value for c in app.caption)


# --- 11. a re-uploaded zip keeps its metrics -----------------------------------------------------------------
def _zip(folder: Path, metrics: dict | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("config.json", "model.safetensors"):
            zf.write(folder / name, f"mine/{name}")
        if metrics is not None:
            zf.writestr("mine/metrics.json", json.dumps(metrics))
    return buf.getvalue()


def test_a_reuploaded_zip_shows_its_metrics_json_on_home(app, shipped):
    data = _zip(shipped / "unsupervised_gaussian_2d", {"n_test": 200, "reconstruction": {"mse": 0.0512},
                                                       "sample_quality": QUALITY})
    app.file_uploader(key="checkpoint_upload").set_value([("mine.zip", data, "application/zip")]).run()
    assert ok(app).selectbox(key=MODEL).value.startswith("upload:")
    facts = table_rows(app.table[0])
    assert facts["reconstruction MSE / pixel"] == ["0.0512"]
    assert facts["decoded prior samples the digit judge is sure of"][0].startswith("87.5 %")


# --- 5. the upload box ------------------------------------------------------------------------------------
def test_a_refused_file_left_in_the_box_does_not_refuse_the_next_upload(app, shipped):
    uploader = app.file_uploader(key="checkpoint_upload")
    uploader.set_value([("broken.zip", b"PK\x03\x04 not a zip", "application/zip")]).run()
    assert [e.value for e in app.error] and "not a zip" in app.error[0].value
    good = _zip(shipped / "supervised_style_2d", None)
    app.file_uploader(key="checkpoint_upload").set_value(
        [("broken.zip", b"PK\x03\x04 not a zip", "application/zip"), ("mine.zip", good, "application/zip")]).run()
    assert not ok(app).error
    assert app.selectbox(key=MODEL).value.startswith("upload:")


def test_the_upload_message_sits_at_the_top_of_its_column_and_names_the_configs_fault(app, shipped, tmp_path):
    config = json.loads((shipped / "unsupervised_gaussian_2d" / "config.json").read_text())
    config["model"]["hidden_dim"] = 10**8
    files = [("config.json", json.dumps(config).encode(), "application/json"),
             ("model.safetensors", (shipped / "unsupervised_gaussian_2d" / "model.safetensors").read_bytes(),
              "application/octet-stream")]
    app.file_uploader(key="checkpoint_upload").set_value(files).run()
    [error] = [e.value for e in ok(app).error]
    assert "not valid JSON" not in error and "hidden_dim must be <= 8192" in error
    page = in_order(app)
    message = position(page, lambda e: e.type == "error", "the upload's message")
    model_heading = position(page, is_heading("The model"), "the model's heading")
    assert message < model_heading                                   # not under the model's facts, below the fold


# --- 6. the interpolation path -------------------------------------------------------------------------------
def test_the_interpolation_path_fills_a_square_chart_and_the_text_fits_the_model(app, shipped):
    open_page(app, "interpolate")
    spec = json.loads([e for e in app.get("plotly_chart") if e.key == "path_chart"][0].proto.spec)
    layout = spec["layout"]
    assert layout["height"] >= 500
    assert any(abs(c.weight - 0.6) < 0.01 for c in app.columns)      # beside a note, not 940 px wide
    [path] = [t for t in spec["data"] if t["name"] == "path A → B"]
    x, y = values(path["x"]), values(path["y"])
    (x0, x1), (y0, y1) = layout["xaxis"]["range"], layout["yaxis"]["range"]
    assert max((x.max() - x.min()) / (x1 - x0), (y.max() - y.min()) / (y1 - y0)) >= 0.3
    assert "gaps" in app.info[0].value

    open_page(app, "interpolate", "supervised_style_2d", shipped)
    explanation = app.info[0].value
    assert "half of one class and half of another" in explanation and "gaps in the" not in explanation


# --- 8. Draw with a supervised model ------------------------------------------------------------------------
def test_draw_with_a_supervised_model_waits_for_the_digit_instead_of_assuming_a_0(app, shipped):
    open_page(app, "draw", "supervised_style_2d", shipped)
    draw_a_one(app)
    assert app.radio(key="draw_label").value is None
    captions = [c for im in app.image for c in im.captions]
    assert "Reconstruction" not in captions and "What the model sees (28×28)" in captions
    assert "Pick the digit you drew" in texts(app)
    app.radio(key="draw_label").set_value(1).run()
    assert "Reconstruction" in [c for im in ok(app).image for c in im.captions]


# --- 12. the small ones ----------------------------------------------------------------------------------
def test_counts_of_one_are_singular():
    import torch

    from aae_core.training import device_name
    from explorer import catalog

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert device_name(torch.device("cpu")) == "CPU (1 thread)"
    finally:
        torch.set_num_threads(threads)
    assert catalog.plural(1, "epoch") == "1 epoch" and catalog.plural(1200, "step") == "1,200 steps"


# --- 3. what is drawn over WebGL points shows -----------------------------------------------------------
def test_the_drawn_digits_star_is_a_webgl_trace_drawn_after_the_points(app, shipped):
    open_page(app, "draw", "unsupervised_gaussian_2d", shipped)
    draw_a_one(app)
    spec = json.loads([e for e in app.get("plotly_chart") if e.key == "draw_map"][0].proto.spec)
    star = spec["data"][-1]
    assert star["name"] == "your digit" and star["type"] == "scattergl" and star["marker"]["symbol"] == "star"
    assert "your digit" in [a["text"].replace("<b>", "").replace("</b>", "") for a in spec["layout"]["annotations"]]

    open_page(app, "latent_map")                                              # the σ rings of N(0, 5² I)
    spec = json.loads([e for e in app.get("plotly_chart") if e.key == "latent_map_chart"][0].proto.spec)
    rings = [t for t in spec["data"] if str(t.get("name")).startswith("prior ") and "σ" in t["name"]]
    assert len(rings) == 3 and all(t["type"] == "scattergl" for t in rings)
    last_points = max(i for i, t in enumerate(spec["data"]) if "customdata" in t)
    assert all(spec["data"].index(t) > last_points for t in rings)


# --- 4. presentation mode ------------------------------------------------------------------------------------
def test_presentation_mode_fits_a_projector_keeps_the_click_beside_the_map_and_survives_a_reload(app, shipped,
                                                                                                 monkeypatch):
    import streamlit as st

    shown: list[tuple[object, int]] = []            # (caption, displayed width: the width asked, else pixels)
    real = st.image

    def spy(image, caption=None, width="content", **kwargs):
        first = image[0] if isinstance(image, list) else image
        if isinstance(first, np.ndarray):
            shown.append((str(caption), width if isinstance(width, int) else first.shape[-1]))
        return real(image, caption=caption, width=width, **kwargs)

    monkeypatch.setattr(st, "image", spy)
    open_page(app, "style_class", "supervised_style_2d", shipped)
    normal, shown[:] = dict(shown), []
    app.toggle(key="presentation").set_value(True).run()
    assert app.query_params["present"] == "1"                                 # in the URL: a reload keeps it
    large = dict(shown)
    both = [c for c in normal if c in large]
    assert both and all(large[c] > normal[c] for c in both), (normal, large)  # images and strips grow

    open_page(app, "latent_map", "unsupervised_gaussian_2d", shipped)
    spec = json.loads([e for e in app.get("plotly_chart") if e.key == "latent_map_chart"][0].proto.spec)
    assert 480 <= spec["layout"]["height"] <= 520     # with the hover strip above it, under the header of 1080 pixels
    assert [round(c.weight, 2) for c in app.columns if round(c.weight, 2) in (0.7, 0.3)] == [0.7, 0.3]

    reload = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    reload.query_params.update(app.query_params.to_dict() if hasattr(app.query_params, "to_dict")
                               else dict(app.query_params))
    ok(reload.run())
    assert reload.toggle(key="presentation").value is True
    assert any("font-size: 20px" in m.value for m in reload.markdown)


# --- §6 the URL holds the view ----------------------------------------------------------------------------
def _click(at: AppTest, index: int) -> AppTest:
    point = {"curve_number": 1, "point_number": 0, "point_index": 0, "x": 0.0, "y": 0.0,
             "customdata": {"0": 0, "1": index, "2": -1}}
    at.session_state["latent_map_chart"] = {"selection": {"points": [point], "point_indices": [0], "box": [],
                                                          "lasso": []}}
    return ok(at.run())


def test_a_link_opens_the_same_model_point_and_mode_and_the_share_link_has_no_token(app, shipped):
    from urllib.parse import parse_qs, urlsplit

    open_page(app, "latent_map", "supervised_style_2d", shipped)
    _click(app, 5)
    params = dict(app.query_params)
    assert params["model"] == "supervised_style_2d" and params["point"] == "encoded:5" and "present" not in params
    assert params["user"] == app.session_state["user_token"]
    [link] = [c.value for c in app.code if "model=" in c.value]
    shared = urlsplit(link)
    assert shared.path.endswith("/latent_map")
    assert parse_qs(shared.query) == {"model": ["supervised_style_2d"], "point": ["encoded:5"]}   # no user=

    student = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    student.query_params.update({"model": "supervised_style_2d", "point": "encoded:5", "present": "1"})
    ok(student.run())
    assert student.selectbox(key=MODEL).value == ref(shipped, "supervised_style_2d")
    assert student.toggle(key="presentation").value is True
    assert student.session_state["user_token"] != app.session_state["user_token"]
    open_page(student, "latent_map")
    selected = student.session_state["selected"]
    assert (selected.source, selected.index) == ("encoded", 5)
    assert any(m.value == "#### Test image #5" for m in student.markdown)


@pytest.mark.parametrize("text", ["encoded:-1", "prior:x", "space:1,2,3", "../../etc", "encoded:99999999"])
def test_a_malformed_or_out_of_range_point_in_a_link_is_ignored(app, shipped, text):
    student = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    student.query_params.update({"model": "unsupervised_gaussian_2d", "point": text})
    ok(student.run())
    open_page(student, "latent_map")
    assert student.session_state["selected"] is None


# --- 7. Style x class for a semi-supervised model -----------------------------------------------------------
def test_style_by_class_for_a_semi_supervised_model_shows_the_judge_and_promises_no_more(app, shipped):
    open_page(app, "style_class", "semi_supervised_100", shipped)
    explanation = app.info[0].value
    assert "100 labelled images" in explanation and "written the same way" not in explanation
    spec = json.loads([e for e in app.get("plotly_chart") if e.key == "sweep_judge_chart"][0].proto.spec)
    assert len(spec["data"][0]["y"]) == 10 if isinstance(spec["data"][0]["y"], list) else spec["data"][0]["y"]
    assert "87.0 %" in texts(app) and "lowest: 5, 62.0 %" in texts(app)


# --- 12. the small ones, on their pages -------------------------------------------------------------------
def test_one_epoch_is_singular_on_home(app, shipped):
    open_page(app, "home", "vae_2d", shipped)
    assert table_rows(app.table[0])["trained"] == ["1 epoch (1 step)"]


def test_a_clicked_image_names_its_cluster_with_its_majority_digit(app, shipped):
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map", "clustering_16", shipped)
    _click(app, 3)
    [line] = [m.value for m in app.markdown if m.value.startswith("**The model's cluster probabilities**")]
    assert re.search(r"predicted: cluster \d+ \(mostly \d+s\)|no test image", line), line


def test_loss_ticks_never_go_below_zero_and_a_1d_snapshot_has_no_second_axis():
    from explorer import figures
    from explorer.runs.status import Snapshot

    fig = figures.loss_figure([{"step": i, "epoch": i / 10, "reconstruction": 200.0 - i, "discriminator": 0.01,
                                "generator": 0.02 + i / 1000} for i in range(10)])
    assert fig.layout.yaxis2.range[0] >= 0
    xy = np.stack([np.linspace(-1, 1, 20), np.zeros(20)], 1).astype(np.float32)
    snap = Snapshot(step=5, epoch=0.5, xy=xy, labels=np.arange(20) % 10, prior_xy=xy.copy())
    fig = figures.snapshot_figure(snap, axis_range=figures.snapshot_range(snap))
    assert fig.layout.yaxis.type == "category" and "z₂" not in str(fig.layout.yaxis.title.text)
    assert fig.layout.xaxis.title.text.startswith("z (the code's one dimension)")
