"""The game's views in the app: the adversarial game page, the D(z) / push / manifold layers on the Latent map
and Compare, and training timelines on the Latent map and Train pages (AppTest, tiny models, fake MNIST)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import start_app, synthetic_images, tiny_config
from test_teaching_views import values

import aae_core
from aae_core.callbacks import CheckpointCallback
from aae_core.config import TrainConfig
from aae_core.projection import LatentMap
from aae_core.snapshots import SnapshotCallback, load_timeline, snapshot_images
from aae_core.training import Trainer
from explorer import runs
from explorer.teaching_figures import shared_range

MODEL = "model_ref"
AAE, VAE, MIXTURE = "unsupervised_gaussian_2d", "vae_2d", "unsupervised_mixture_2d"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    """An AAE trained one tiny epoch with a timeline, a VAE and a label-conditioned mixture AAE."""
    root = tmp_path_factory.mktemp("checkpoints")
    data = synthetic_images(200)
    images, idx = snapshot_images(synthetic_images(60, seed=3), 40)
    model = aae_core.build_model(tiny_config(latent_dim=2), seed=0)
    Trainer(model, TrainConfig(epochs=2, batch_size=20, eval_size=0), data,
            callbacks=[CheckpointCallback(root / AAE), SnapshotCallback(root / AAE, images, idx, early_steps=(0, 5))]
            ).fit()
    aae_core.save(aae_core.build_model(tiny_config("vae", latent_dim=2), seed=1), root / VAE)
    mixture = tiny_config(prior="mixture", label_conditioned=True, n_labels=100, latent_dim=2)
    aae_core.save(aae_core.build_model(mixture, seed=2), root / MIXTURE)
    return root


@pytest.fixture
def app(shipped, fake_mnist_dir, tmp_path, monkeypatch):
    return start_app(shipped, fake_mnist_dir, tmp_path, monkeypatch, timeout=60)


def open_page(at, page: str, model: str | None = None, shipped: Path | None = None):
    if model is not None:
        at.selectbox(key=MODEL).set_value(str((shipped / model).resolve())).run()
    at.switch_page(f"explorer/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def spec(at, key: str) -> dict:
    chart = [e for e in at.get("plotly_chart") if e.key == key]
    assert chart, f"no plotly chart {key}; there are {[e.key for e in at.get('plotly_chart')]}"
    return json.loads(chart[0].proto.spec)


def traces(at, key: str, kind: str) -> list[dict]:
    return [t for t in spec(at, key)["data"] if t.get("type") == kind]


def arrows(at, key: str) -> list[dict]:
    return [t for t in spec(at, key)["data"] if t.get("name") == "generator's push"]


def run(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- the adversarial game page --------------------------------------------------------------------------------
def test_the_game_page_steps_one_batch_phase_by_phase(app, shipped):
    open_page(app, "game", AAE, shipped)
    assert app.title[0].value == "The adversarial game"
    buttons = {b.key: b for b in app.button}
    # only the next phase can be pressed: reconstruction first
    assert not buttons["game_step_reconstruction"].disabled
    assert buttons["game_step_discriminator"].disabled and buttons["game_step_generator"].disabled
    chart = [k for k in (e.key for e in app.get("plotly_chart")) if k.startswith("game_chart_")][0]
    heat = traces(app, chart, "heatmap")
    z = values(heat[0]["z"])
    assert len(heat) == 1 and 0 <= z.min() <= z.max() <= 1
    assert spec(app, chart)["data"][0]["type"] == "heatmap"          # under the codes and prior draws
    assert arrows(app, chart)
    codes_before = app.session_state["game_stepper"].start.codes.copy()
    expected = [["encoder", "decoder"], ["discriminator"], ["encoder"]]
    for i, phase in enumerate(("reconstruction", "discriminator", "generator")):
        app.button(key=f"game_step_{phase}").click()
        run(app)
        rows = app.dataframe[0].value
        assert list(rows["phase"]) == ["start", *["reconstruction", "discriminator", "generator"][:i + 1]]
        assert rows["networks updated"].iloc[-1] == ", ".join(expected[i])
        assert np.isfinite(rows["loss"].iloc[-1]) and 0 <= rows["mean D(codes)"].iloc[-1] <= 1
        assert any(k == f"game_chart_{i + 1}" for k in (e.key for e in app.get("plotly_chart")))
    # the discriminator's step did not move the codes; reconstruction and generator did
    done = app.session_state["game_stepper"].done
    assert np.array_equal(done[0].codes, done[1].codes) and not np.array_equal(codes_before, done[0].codes)
    assert not np.array_equal(done[1].codes, done[2].codes)
    assert not app.button(key="game_step_reconstruction").disabled   # the next round begins


def test_slow_motion_plays_the_rest_of_the_round_and_reset_starts_over(app, shipped):
    open_page(app, "game", AAE, shipped)
    app.button(key="game_step_reconstruction").click()
    run(app)
    app.button(key="game_play").click()
    run(app)
    assert [v.phase for v in app.session_state["game_stepper"].done] == ["reconstruction", "discriminator",
                                                                         "generator"]
    app.button(key="game_reset").click()
    run(app)
    assert app.session_state["game_stepper"].done == []


def test_the_game_page_says_a_vae_has_no_discriminator_and_still_steps_its_phase(app, shipped):
    open_page(app, "game", VAE, shipped)
    assert any("has no discriminator" in i.value for i in app.info)
    assert not traces(app, "game_chart_0", "heatmap")
    app.button(key="game_step_elbo").click()
    run(app)
    assert app.dataframe[0].value["networks updated"].iloc[-1] == "encoder, decoder"


def test_the_game_page_asks_for_the_label_of_a_label_conditioned_d(app, shipped):
    open_page(app, "game", MIXTURE, shipped)
    before = values(traces(app, "game_chart_0", "heatmap")[0]["z"])
    app.selectbox(key="game_label").set_value(7)
    run(app)
    assert not np.allclose(before, values(traces(app, "game_chart_0", "heatmap")[0]["z"]))


# --- layers on the latent map and Compare ------------------------------------------------------------------------
def test_latent_map_layers_draw_d_the_push_and_the_decoded_manifold_on_the_maps_axes(app, shipped):
    open_page(app, "latent_map", AAE, shipped)
    assert not traces(app, "latent_map_chart", "heatmap")             # off at first
    for key in ("map_critic", "map_push", "map_manifold"):
        app.toggle(key=key).set_value(True)
    run(app)
    s = spec(app, "latent_map_chart")
    assert s["data"][0]["type"] == "heatmap" and s["data"][0]["hoverinfo"] == "skip"
    z = values(s["data"][0]["z"]).astype(float)
    assert z.shape == (48, 48) and ((z >= 0) & (z <= 1)).all()
    push = arrows(app, "latent_map_chart")[0]
    seg = values(push["x"]).astype(float).reshape(-1, 3)
    assert len(seg) == 150 and np.isnan(seg[:, 2]).all()
    (image,) = s["layout"]["images"]
    x0, x1 = s["layout"]["xaxis"]["range"]
    y0, y1 = s["layout"]["yaxis"]["range"]
    assert image["source"].startswith("data:image/png;base64,") and image["layer"] == "below"
    # a square (the digits keep their shape on equal axes) that covers the whole map, centred on it
    assert image["sizex"] == pytest.approx(image["sizey"]) and image["sizex"] == pytest.approx(max(x1 - x0, y1 - y0))
    assert image["x"] <= x0 and image["x"] + image["sizex"] >= x1 - 1e-9
    assert image["y"] >= y1 and image["y"] - image["sizey"] <= y0 + 1e-9
    assert image["x"] + image["sizex"] / 2 == pytest.approx((x0 + x1) / 2)


def test_latent_map_says_a_vae_has_no_d_and_still_tiles_its_manifold(app, shipped):
    open_page(app, "latent_map", VAE, shipped)
    app.toggle(key="map_critic").set_value(True)
    app.toggle(key="map_manifold").set_value(True)
    run(app)
    assert any("has no discriminator" in c.value for c in app.caption)
    assert not traces(app, "latent_map_chart", "heatmap") and spec(app, "latent_map_chart")["layout"]["images"]


def test_compare_opens_on_a_fair_pair_and_draws_each_ds_view(app, shipped):
    open_page(app, "compare")
    assert (Path(app.selectbox(key="compare_a").value).name, Path(app.selectbox(key="compare_b").value).name) == (
        AAE, VAE)
    app.toggle(key="compare_critic").set_value(True)
    run(app)
    assert traces(app, "compare_map_a", "heatmap") and not traces(app, "compare_map_b", "heatmap")
    assert any("has no discriminator" in c.value for c in app.caption)


def _map(xy: np.ndarray, prior: np.ndarray) -> LatentMap:
    return LatentMap("latent", "f", "mnist", xy, np.zeros(len(xy), int), prior, xy, prior)


def test_shared_axes_never_clip_a_code():
    rng = np.random.default_rng(0)
    prior = rng.normal(size=(2000, 2))
    a = _map(np.concatenate([rng.normal(size=(999, 2)), [[40.0, -30.0]]]), prior)
    b = _map(rng.normal(size=(1000, 2)) * 0.3, prior)
    (x0, x1), (y0, y1) = shared_range(a, b)
    assert x1 > 40 and y0 < -30
    (x0, x1), _ = shared_range(b, b)
    assert x1 < 5                                                     # outlying prior samples may be left out


# --- training timelines -----------------------------------------------------------------------------------------
def test_latent_map_plays_a_models_training_timeline_in_the_browser(app, shipped):
    open_page(app, "latent_map", AAE, shipped)
    app.toggle(key="map_timeline").set_value(True)
    run(app)
    s = spec(app, "map_timeline_chart")
    timeline = load_timeline(shipped / AAE, 2)
    assert len(s["frames"]) == len(timeline) == 4                    # steps 0, 5, epochs 1 and 2
    assert [st["label"] for st in s["layout"]["sliders"][0]["steps"]] == ["step 0", "step 5", "epoch 1", "epoch 2"]
    labels = [b["label"] for b in s["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["▶ Play", "❚❚ Pause"]
    # every frame holds that snapshot's codes: the last frame's equal the recorded ones
    last = s["frames"][-1]["data"]
    codes = np.concatenate([np.stack([values(t["x"]), values(t["y"])], 1) for t in last if t.get("type") == "scatter"
                            and t.get("name", "").isdigit()])
    recorded = np.concatenate([timeline.codes[-1][timeline.labels == d] for d in np.unique(timeline.labels)])
    assert np.allclose(codes, recorded, atol=1e-3)
    x0, x1 = s["layout"]["xaxis"]["range"]
    allc = np.concatenate(timeline.codes)
    assert x0 <= allc[:, 0].min() and allc[:, 0].max() <= x1          # no snapshot's code off the axes


def test_the_train_page_shows_a_2d_runs_d_view_and_then_its_timeline(app):
    open_page(app, "train")
    job = runs.REGISTRY.start(app.session_state["user_key"], tiny_config(latent_dim=2),
                                    TrainConfig(epochs=2, batch_size=20, eval_size=50))
    try:
        assert job.join(120)
    finally:
        job.stop()
    run(app)
    s = spec(app, "train_timeline_chart")
    assert len(s["frames"]) == len(load_timeline(job.out, 2)) >= 3 and s["data"][0]["type"] == "heatmap"
