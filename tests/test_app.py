"""Every page of the app, run through AppTest from app.py against tiny checkpoints and fake MNIST."""

from __future__ import annotations

import io
import json
import os
import pickle
import secrets
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import umap_stand_in
from conftest import MAP_CHART, MODEL, click, open_page, ref, save_models, start_app, synthetic_images, tiny_config
from streamlit.testing.v1 import AppTest

import aae_core
from aae_core import checkpoint_meta, fsutil, projection
from aae_core.checkpoint import save_metrics
from aae_core.config import Schedule
from aae_core.recipes import default_recipe
from aae_core.uploads import read_upload
from explorer import catalog, runs, tasks, umap_worker
from explorer.figures import ENCODED, GRID, PRIOR

REPO = Path(__file__).resolve().parents[1]
FAKE_TEST = synthetic_images(200, seed=2)          # what fake_mnist_dir holds as its test set
MODELS = {
    "unsupervised_gaussian_2d": tiny_config("unsupervised"),          # the app's default pick
    "supervised_style_2d": tiny_config("supervised", latent_dim=2),
    "semi_supervised_4d": tiny_config("semi_supervised", latent_dim=4),
    "unsupervised_gaussian_20d": tiny_config("unsupervised", latent_dim=20),
}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    return save_models(tmp_path_factory.mktemp("checkpoints"), MODELS)


def images(at: AppTest) -> list[tuple[list[str], list[str]]]:
    """(urls, captions) of every st.image element on the page."""
    return [(im.value, im.captions) for im in at.image]


def image_with(at: AppTest, caption: str) -> list[str]:
    """The urls of the st.image element that has an image captioned `caption` (startswith)."""
    found = [urls for urls, caps in images(at) if any(c.startswith(caption) for c in caps)]
    assert found, f"no image captioned {caption!r}; captions: {[c for _, c in images(at)]}"
    return found[0]


def plotly_spec(at: AppTest, key: str) -> dict:
    chart = [e for e in at.get("plotly_chart") if e.key == key]
    assert chart, f"no plotly chart with key {key}"
    return json.loads(chart[0].proto.spec)


def test_no_pages_folder_next_to_the_entrypoint():
    """A folder named pages/ beside app.py puts Streamlit into its v1 multipage mode on a fresh server
    (a page opened by URL then runs without app.py: no sidebar, no model picker); pages live in explorer/pages/."""
    assert not (REPO / "pages").exists()
    assert sorted(p.name for p in (REPO / "explorer" / "pages").glob("*.py")) == [
        "classes.py", "compare.py", "draw.py", "game.py", "home.py", "interpolate.py", "latent_map.py", "paper.py",
        "prior_fit.py", "sliders.py", "style_class.py", "train.py"]


# --- Home -------------------------------------------------------------------------------------------
def test_home_explains_the_aae_and_offers_the_shared_picker_and_the_device(app, shipped):
    assert app.title[0].value == "Adversarial Autoencoder Explorer"
    assert app.info and "latent space" in app.info[0].value                  # the page's explanation
    assert image_with(app, "The three networks")                              # the AAE diagram (inline SVG)
    picker = app.selectbox(key=MODEL)
    assert sorted(picker.options) == sorted(f"{n} · shipped" for n in MODELS)
    assert catalog.describe_config(MODELS["unsupervised_gaussian_2d"]) in [c.value for c in app.sidebar.caption]
    assert picker.value == ref(shipped, "unsupervised_gaussian_2d")           # the preferred default
    assert any("Models run on **CPU" in m.value or "(GPU)" in m.value for m in app.markdown)
    assert app.file_uploader(key="checkpoint_upload")
    assert not app.error


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"ckpt/{name}", data)
    return buf.getvalue()


class _Bomb:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_bad_uploads_get_one_clear_message_and_a_good_one_is_picked(app, shipped, tmp_path):
    folder = shipped / "supervised_style_2d"
    config, weights = (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()
    other = aae_core.save(aae_core.build_model(tiny_config("supervised", hidden_dim=16)), tmp_path / "other")
    marker = tmp_path / "unpickled"
    bad = {
        "not a zip": [("ckpt.zip", b"PK\x03\x04 definitely not a zip", "application/zip")],
        "truncated": [("config.json", config, "application/json"),
                      ("model.safetensors", weights[: len(weights) // 2], "application/octet-stream")],
        "do not fit": [("ckpt.zip", _zip({"config.json": config,
                                          "model.safetensors": (other / "model.safetensors").read_bytes()}),
                        "application/zip")],
        "pickle": [("config.json", config, "application/json"),
                   ("model.safetensors", pickle.dumps(_Bomb(marker)), "application/octet-stream")],
    }
    uploader = app.file_uploader(key="checkpoint_upload")
    for what, files in bad.items():
        uploader.set_value(files)
        app.run()
        assert not app.exception, (what, app.exception)
        assert len(app.error) == 1, (what, [e.value for e in app.error])
        assert app.error[0].value.startswith("That upload is not a usable checkpoint"), what
        assert app.selectbox(key=MODEL).value == ref(shipped, "unsupervised_gaussian_2d")  # the app carries on
        uploader = app.file_uploader(key="checkpoint_upload")
    assert not marker.exists()                                                # nothing uploaded was unpickled

    uploader.set_value([("sup.zip", _zip({"config.json": config, "model.safetensors": weights}), "application/zip")])
    app.run()
    assert not app.error and not app.exception
    picked = app.selectbox(key=MODEL).value
    assert picked.startswith("upload:") and picked == "upload:" + read_upload([("c.json", config),
                                                                                ("m.safetensors", weights)]).identity
    assert any("supervised AAE" in m.value for m in app.markdown)            # Home now describes the upload
    open_page(app, "style_class")                                             # and every page uses it
    assert len(image_with(app, "Class codes 0-9")) == 1                       # the sweep: one strip of 10


def test_uploads_are_kept_per_user_and_a_users_own_fifth_pushes_out_their_first_with_a_word(
        app, shipped, fake_mnist_dir, tmp_path, monkeypatch):
    from explorer import uploads

    folder = shipped / "supervised_style_2d"
    config, weights = (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()

    def upload(at: AppTest, name: str, pad: int) -> AppTest:
        at.file_uploader(key="checkpoint_upload").set_value(
            [(f"{name}.zip", _zip({"config.json": config + b" " * pad, "model.safetensors": weights}),
              "application/zip")])
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        return at

    def mine(at: AppTest) -> set[str]:
        """The identities of the uploads the picker offers (the names are all 'ckpt', the zips' folder)."""
        offered = [o for o in at.selectbox(key=MODEL).options if o.endswith("· uploaded")]
        assert len(offered) == len(at.session_state["uploads"])
        return set(at.session_state["uploads"])

    def identity(pad: int) -> str:
        return read_upload([("config.json", config + b" " * pad), ("model.safetensors", weights)]).identity

    n = uploads.MAX_PER_USER
    for i in range(n):
        upload(app, f"mine{i}", i)
    others = start_app(shipped, fake_mnist_dir, tmp_path / "others", monkeypatch)   # another browser session
    for i in range(3 * n):
        upload(others, f"theirs{i}", 100 + i)
    app.run()
    assert mine(app) == {identity(i) for i in range(n)}                 # other users never push a user's out
    upload(app, "mine_new", 50)
    assert mine(app) == {identity(i) for i in range(1, n)} | {identity(50)}
    assert [w.value for w in app.warning] == [f"ckpt left your uploads: the server keeps your {n} latest. "
                                              "Upload it again to use it."]


@pytest.mark.parametrize("broken, message", [("truncated", "truncated"), ("do not fit", "do not fit")])
def test_each_kind_of_broken_upload_names_its_problem(app, shipped, tmp_path, broken, message):
    folder = shipped / "supervised_style_2d"
    config, weights = (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()
    if broken == "truncated":
        weights = weights[:-100]
    else:
        other = aae_core.save(aae_core.build_model(tiny_config("supervised", hidden_dim=16)), tmp_path / "o")
        weights = (other / "model.safetensors").read_bytes()
    app.file_uploader(key="checkpoint_upload").set_value(
        [("c.zip", _zip({"config.json": config, "model.safetensors": weights}), "application/zip")])
    app.run()
    assert [e.value for e in app.error] and message in app.error[0].value


def _bad_deflate_zip(files: dict[str, bytes]) -> bytes:
    """A deflated zip whose last member's stream starts with a reserved block type: zlib fails on it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    data = bytearray(buf.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[-1]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start] = 0b111   # BFINAL=1, BTYPE=11 (reserved): "invalid block type"
    return bytes(data)


def test_upload_errors_say_what_is_wrong_and_what_to_do_without_server_details(app, shipped, tmp_path, monkeypatch):
    import tempfile

    folder = shipped / "supervised_style_2d"
    config, weights = (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()
    other = aae_core.save(aae_core.build_model(tiny_config("supervised", hidden_dim=16)), tmp_path / "other")
    fresh = aae_core.save(aae_core.build_model(tiny_config("supervised", latent_dim=2), seed=99), tmp_path / "fresh")
    cases = {
        "do not fit": [("c.zip", _zip({"config.json": config,
                                       "model.safetensors": (other / "model.safetensors").read_bytes()}),
                        "application/zip")],
        "truncated": [("config.json", config, "application/json"),
                      ("model.safetensors", weights[:-100], "application/octet-stream")],
        "more than one checkpoint folder": [("two.zip", _zip({"config.json": config, "model.safetensors": weights,
                                                              "x/model.safetensors": weights}), "application/zip")],
        "archive is damaged": [("bad.zip", _bad_deflate_zip({"config.json": config, "model.safetensors": weights}),
                                "application/zip")],                     # zlib.error inside zipfile (issue 19 #7)
        "could not build": [("config.json", (fresh / "config.json").read_bytes(), "application/json"),
                            ("model.safetensors", (fresh / "model.safetensors").read_bytes(),
                             "application/octet-stream")],
    }

    def allocator_failure(self, device=None):
        raise RuntimeError(f"[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: "
                           f"you tried to allocate 98304000000 bytes. {tempfile.gettempdir()}/tmpab12/model.bin")

    for what, files in cases.items():
        if what == "could not build":                                         # torch's own words, with a path
            monkeypatch.setattr(aae_core.uploads.CheckpointFiles, "load", allocator_failure)
        app.file_uploader(key="checkpoint_upload").set_value(files)
        app.run()
        assert not app.exception, (what, app.exception)
        [error] = [e.value for e in app.error]
        assert error.startswith("That upload is not a usable checkpoint") and what in error, (what, error)
        assert "Upload a .zip of one checkpoint folder" in error                   # what to do
        for leak in ("/tmp", tempfile.gettempdir(), "Traceback", "Allocator", "alloc_cpu"):
            assert leak not in error, (what, leak, error)


# --- Train ------------------------------------------------------------------------------------------
def _user_job(at: AppTest) -> runs.TrainingJob:
    job = runs.REGISTRY.get(at.session_state["user_key"])
    assert job is not None
    return job


def test_train_page_starts_a_run_that_lands_in_the_picker(app, tmp_path):
    open_page(app, "train")
    for key in ("train_kind", "train_prior"):
        assert app.selectbox(key=key)
    for key in ("train_latent", "train_epochs", "train_batch", "train_seed", "train_lr_rec", "train_lr_disc",
                "train_lr_gen"):
        assert app.number_input(key=key)
    app.selectbox(key="train_kind").set_value("supervised")
    app.run()
    assert app.selectbox(key="train_labels_supervised").value == "all"
    app.number_input(key="train_epochs").set_value(2)
    app.select_slider(key="train_width").set_value(64)
    app.button(key="start_run").click()
    app.run()
    assert not app.exception, app.exception
    job = _user_job(app)
    assert job.join(60) and job.status().state == "finished"
    assert job.out.parent == tmp_path / "runs"
    app.run()
    assert any("finished 2 epochs" in s.value for s in app.success)
    assert app.get("plotly_chart") and app.progress[0].value == 100
    run_ref = str(job.out.resolve())
    assert run_ref in app.selectbox(key=MODEL).options or any(
        job.out.name in o for o in app.selectbox(key=MODEL).options)
    app.button(key="use_run").click()
    app.run()
    assert app.selectbox(key=MODEL).value == run_ref
    app.button(key="new_run").click()
    app.run()
    assert runs.REGISTRY.get(app.session_state["user_key"]) is None and app.button(key="start_run")


def _start_long_run(app):
    """Start a 500-epoch run from the Train page (long enough to still be running) and return its job."""
    open_page(app, "train")
    app.number_input(key="train_epochs").set_value(500)
    app.select_slider(key="train_width").set_value(64)
    app.button(key="start_run").click()
    app.run()
    return _user_job(app)


@contextmanager
def long_run(app):
    """_start_long_run's job while the block runs; stopped (and waited for) at its end, however it ends."""
    job = _start_long_run(app)
    try:
        yield job
    finally:
        job.stop()
        job.join(30)


def _new_session(**query: str) -> AppTest:
    """Another browser session on the same server (the same process, so the same REGISTRY), opened on a URL
    with these query parameters."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def _wait(predicate, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def _texts(at: AppTest) -> list[str]:
    return [e.value for kind in ("info", "warning", "caption", "markdown", "success", "error")
            for e in getattr(at, kind)] + [p.proto.text for p in at.progress]


def test_train_page_input_noise_defaults_to_the_measured_recipe_and_reaches_the_run(app):
    open_page(app, "train")
    assert app.number_input(key="train_input_noise_unsupervised").value == 0.0
    app.selectbox(key="train_kind").set_value("semi_supervised").run()
    assert app.number_input(key="train_input_noise_semi_supervised").value == pytest.approx(0.3)
    app.number_input(key="train_input_noise_semi_supervised").set_value(0.2)
    with long_run(app) as job:
        assert job.train_config.input_noise == pytest.approx(0.2)
        assert job.model_config.kind == "semi_supervised"


def test_after_a_run_ends_the_form_keeps_the_recipe_and_start_trains_what_it_shows(app):
    """The lecturer's walk (issue 16, 5.1): after a run, the form fell to its minimums (latent 1, σ 0.1, batch 16,
    rates 1e-6) while the recipe box still named the recipe, and Start trained those values."""
    open_page(app, "train")
    app.number_input(key="train_epochs").set_value(1)
    app.select_slider(key="train_width").set_value(64)
    app.button(key="start_run").click()
    app.run()
    first = _user_job(app)
    open_page(app, "home")                      # look elsewhere while it trains, then come back
    assert first.join(60) and first.status().state == "finished"
    open_page(app, "train")
    app.button(key="new_run").click()
    app.run()
    assert not app.exception, app.exception
    shown = {key: app.number_input(key=key).value for key in ("train_latent", "train_std", "train_batch",
                                                              "train_lr_rec", "train_lr_disc", "train_lr_gen")}
    assert shown == {"train_latent": 2, "train_std": 5.0, "train_batch": 100, "train_lr_rec": 1e-3,
                     "train_lr_disc": 2e-4, "train_lr_gen": 2e-4}          # unsupervised_gaussian_2d, as picked
    assert app.select_slider(key="train_width").value == 64 and app.number_input(key="train_epochs").value == 1
    app.button(key="start_run").click()
    app.run()
    second = _user_job(app)
    try:
        assert second is not first
        assert second.model_config == first.model_config and second.train_config == first.train_config
    finally:
        second.stop()
        second.join(30)


def test_every_kind_draws_its_form_and_a_schedule_set_on_the_page_reaches_the_run(app):
    open_page(app, "train")
    for kind in aae_core.FAMILIES:
        app.selectbox(key="train_kind").set_value(kind).run()
        assert not app.exception, (kind, app.exception)
    app.selectbox(key="train_kind").set_value("clustering").run()
    app.selectbox(key="sched_class_code_noise").set_value("linear").run()
    app.number_input(key="sched_final_class_code_noise").set_value(0.05).run()
    with long_run(app) as job:
        assert dict(job.train_config.schedules) == {"class_code_noise": Schedule("linear", 0.05)}
        assert job.model_config.n_classes == 16 and job.model_config.hidden_dim == 64


def test_the_consistency_radius_shows_for_class_heads_only_and_reaches_the_run(app):
    open_page(app, "train")
    assert "train_consistency" not in [n.key for n in app.number_input]     # unsupervised: no class head
    app.selectbox(key="train_kind").set_value("semi_supervised").run()
    recipe = default_recipe("semi_supervised")
    assert app.number_input(key="train_consistency").value == recipe.model.get("consistency_eps", 0.0)
    app.number_input(key="train_consistency").set_value(1.5).run()
    app.selectbox(key="train_kind").set_value("vae").run()                   # a kind that has no use for it
    assert not app.exception, app.exception
    assert "train_consistency" not in [n.key for n in app.number_input]
    app.selectbox(key="train_kind").set_value("clustering").run()
    app.number_input(key="train_consistency").set_value(0.0).run()
    assert "train_lr_sup" not in [n.key for n in app.number_input]          # no labelled batch, no consistency
    app.number_input(key="train_consistency").set_value(1.5).run()
    assert app.number_input(key="train_lr_sup").label == "Learning rate: consistency"   # the phase's own rate
    app.number_input(key="train_lr_sup").set_value(3e-4).run()
    with long_run(app) as job:
        assert job.model_config.consistency_eps == pytest.approx(1.5) and job.model_config.kind == "clustering"
        assert job.train_config.lr_supervised == pytest.approx(3e-4)


def test_train_page_stop_button_stops_the_run(app):
    with long_run(app) as job:
        assert "start_run" not in [b.key for b in app.button]
        assert app.button(key="stop_run")
        _wait(lambda: job.status().step >= 2)
        app.button(key="stop_run").click()
        app.run()
        assert job.join(30)
    app.run()
    s = job.status()
    assert s.state == "stopped" and s.step >= 2
    [warning] = [w.value for w in app.warning if "stopped" in w.value]
    [progress] = [p.proto.text for p in app.main.progress]
    # One story: whole epochs done, and how far into the one it stopped in (not "0 of 500 epochs done" beside
    # "stopped at epoch 1"), and the partial epoch is a row of the history.
    if s.epoch_steps:
        assert f"{s.epoch} of 500 epochs complete" in progress
        assert f"{s.epoch_steps} of {s.steps_per_epoch} steps into epoch {s.epoch + 1}" in progress
        assert f"stopped in epoch {s.epoch + 1} after {s.epoch_steps} of its {s.steps_per_epoch} steps" in warning
    [table] = app.dataframe
    assert table.value["epoch"].iloc[-1] == pytest.approx(round(s.step / s.steps_per_epoch, 4))


def test_a_user_gets_one_run_at_a_time(app):
    with long_run(app):
        with pytest.raises(runs.JobBusyError):
            runs.REGISTRY.start(app.session_state["user_key"], tiny_config(), aae_core.TrainConfig(epochs=1))
        assert "start_run" not in [b.key for b in app.button]              # the form is hidden meanwhile


class _NaNFromEpoch(aae_core.Callback):
    """Turns every weight to NaN once the given number of epochs is done, as a diverging run would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_step_end(self, trainer) -> None:
        if trainer.state.epoch >= self.epoch:
            for p in trainer.model.parameters():
                p.data.fill_(float("nan"))


def test_train_page_reports_a_diverged_run_and_keeps_its_last_good_checkpoint(app):
    open_page(app, "train")
    job = runs.REGISTRY.start(app.session_state["user_key"], tiny_config(),
                              aae_core.TrainConfig(epochs=3, batch_size=20, eval_size=50),
                              callbacks=[_NaNFromEpoch(1)])
    assert job.join(60)
    app.run()
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert error.startswith("Training diverged") and "last good checkpoint (epoch 1)" in error
    app.button(key="use_run").click().run()                                 # the good epoch is usable
    assert app.selectbox(key=MODEL).value == str(job.out.resolve())
    open_page(app, "sliders")
    assert image_with(app, "Decoded image")


def test_train_page_shows_the_measured_speed_and_time_left_and_a_clean_loss_chart(app):
    with long_run(app) as job:
        _wait(lambda: job.status().steps_per_s is not None and len(job.status().losses) >= 2)
        app.run()
        [progress] = [p.proto.text for p in app.main.progress]
        assert "steps/s" in progress and "images/s" in progress and "left" in progress, progress
        assert not any("s per epoch" in t for t in _texts(app))               # no promised speed, the measured one
        chart = [e for e in app.get("plotly_chart") if e.key == "loss_chart"][0]
        assert json.loads(chart.proto.config).get("displayModeBar") is False   # the toolbar cannot cover the legend
        layout = plotly_spec(app, "loss_chart")["layout"]
        assert layout["legend"]["y"] < 0                                      # the legend sits below the plot
        for axis in ("yaxis", "yaxis2"):
            assert layout[axis]["tickformat"] in (".3~g", ".2f"), layout[axis]


def test_a_token_no_session_was_given_opens_nothing(app):
    with long_run(app) as job:
        token = app.query_params["user"]
        assert app.session_state["user_token"] == token and len(token) >= 40     # secrets.token_urlsafe(32)
        owner = app.session_state["user_key"]
        assert owner != token and job.extra["app_user"] == owner              # config.json holds a digest only
        near = token[:-1] + ("B" if token[-1] == "A" else "A")
        for guess in (secrets.token_urlsafe(32), near, owner, "alice", "../../etc/passwd", "", "x" * 5000):
            other = _new_session(user=guess)
            open_page(other, "train")
            assert other.session_state["user_token"] not in (guess, token)        # ignored and replaced...
            assert other.query_params["user"] == other.session_state["user_token"]
            assert other.session_state["user_key"] != owner
            assert runs.REGISTRY.get(other.session_state["user_key"]) is None     # ...and it sees no run
            assert other.button(key="start_run") and "stop_run" not in [b.key for b in other.button]
            assert not any(job.out.name in t for t in _texts(other))
        reload = _new_session(user=token)                                         # the owner's reload
        open_page(reload, "train")
        assert reload.session_state["user_key"] == owner and reload.button(key="stop_run")


def test_a_second_run_waits_in_the_queue_shows_its_place_and_can_leave(app, monkeypatch):
    monkeypatch.setenv("AAE_MAX_TRAININGS", "1")
    first = _start_long_run(app)
    other = _new_session()
    try:
        waiting = _start_long_run(other)
        assert waiting.status().state == "queued" and first.status().state in ("starting", "running")
        texts = _texts(other)
        assert any("1st in the queue" in t for t in texts), texts
        assert any("trains 1 run at a time" in t for t in texts), texts
        assert "start_run" not in [b.key for b in other.button]
        other.button(key="leave_queue").click().run()
        assert not other.exception
        assert waiting.status().state == "left" and runs.REGISTRY.get(other.session_state["user_key"]) is None
        assert other.button(key="start_run") and not waiting.out.exists()
    finally:
        first.stop()
        first.join(30)
        runs.REGISTRY.stop(other.session_state["user_key"])


# --- Latent map -------------------------------------------------------------------------------------
def test_latent_map_shows_codes_and_prior_and_a_click_decodes_a_test_image(app):
    open_page(app, "latent_map")
    spec = plotly_spec(app, MAP_CHART)
    names = [t.get("name") for t in spec["data"]]
    assert "prior samples" in names and {str(d) for d in range(10)} <= set(names)
    assert not app.image                                                      # nothing decoded before a click
    click(app, ENCODED, 7)
    urls = image_with(app, "Original")
    captions = next(c for u, c in images(app) if u == urls)
    assert captions == [f"Original (label {int(FAKE_TEST.labels[7])})", "Reconstruction"] and len(urls) == 2
    assert app.session_state["selected"].index == 7


def test_one_run_of_the_latent_map_reads_the_picked_config_json_at_most_once(app, shipped, monkeypatch):
    """The pick is resolved once per run, from the picker's own listing (explorer.picker), whose folders are parsed
    again only when a file of theirs changed (explorer.catalog): every config.json goes through
    checkpoint_meta.parse_meta, counted here over whole runs of the page (a click)."""
    open_page(app, "latent_map")
    click(app, ENCODED, 3)                               # the model and its map are in the process's caches now
    read, parse = [], checkpoint_meta.parse_meta
    monkeypatch.setattr(checkpoint_meta, "parse_meta", lambda text, where: read.append(where) or parse(text, where))
    click(app, ENCODED, 5)
    assert app.session_state["selected"].index == 5 and image_with(app, "Original")
    assert read == []                                    # nothing changed on disk: nothing parsed again
    picked = shipped.resolve() / "unsupervised_gaussian_2d" / "config.json"
    fsutil.atomic_write_text(picked, picked.read_text())  # rewritten (a new file, as every writer of it does)
    click(app, ENCODED, 6)
    assert app.session_state["selected"].index == 6
    assert read == [str(picked)]                         # that one file, once


def test_the_maps_figure_is_built_once_per_view(app, monkeypatch):
    """explorer.map_view.map_figure: a whole rerun showing the same view draws the figure built before."""
    from explorer import figures

    open_page(app, "latent_map")
    built, build = [], figures.latent_map_figure
    monkeypatch.setattr(figures, "latent_map_figure", lambda *a, **k: built.append(k) or build(*a, **k))
    first = plotly_spec(app, MAP_CHART)
    app.run()
    click(app, ENCODED, 2)
    assert built == [] and plotly_spec(app, MAP_CHART) == first
    app.toggle(key="map_show_prior").set_value(False).run()      # another view: its own figure
    assert len(built) <= 1 and "prior samples" not in [t.get("name") for t in plotly_spec(app, MAP_CHART)["data"]]


def test_a_cached_map_of_the_wrong_size_or_with_nan_places_is_not_drawn(app, shipped):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from explorer import maps

    open_page(app, "latent_map")                                  # computes and caches the 200-point map
    file = shipped / "unsupervised_gaussian_2d" / "projection_latent.safetensors"
    with safe_open(str(file), framework="np") as fh:
        meta, arrays = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    nan_xy = arrays["xy"].copy()
    nan_xy[0] = np.nan
    for bad in (dict(z=arrays["z"][:5], labels=arrays["labels"][:5], xy=arrays["xy"][:5]), dict(xy=nan_xy)):
        save_file({**arrays, **bad}, str(file), metadata=meta)  # the same fingerprint, not the map it claims
        maps._map_from_disk.clear()
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        encoded = [t for t in plotly_spec(app, MAP_CHART)["data"] if t.get("name") in {str(d) for d in range(10)}]
        assert sum(_n_points(t["x"]) for t in encoded) == len(FAKE_TEST)


def _n_points(x) -> int:
    """How many values a plotly array holds (a list, or Plotly 6+'s {"bdata", "dtype"})."""
    import base64

    return len(np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])) if isinstance(x, dict) else len(x)


def test_latent_map_decodes_prior_samples_and_empty_space_in_a_2d_latent(app):
    open_page(app, "latent_map")
    click(app, PRIOR, 3)
    prior_url = image_with(app, "Decoded z")
    assert app.session_state["selected"].source == "prior"
    click(app, GRID, 0, x=1.5, y=-2.0, as_list=True)
    assert app.session_state["selected"].z == (1.5, -2.0)
    assert image_with(app, "Decoded z") != prior_url


def test_latent_map_of_a_larger_latent_uses_pca_and_caches_it(app, shipped):
    app.session_state["map_method"] = "pca"
    open_page(app, "latent_map", "semi_supervised_4d", shipped)
    assert app.radio(key="map_method").options == ["UMAP (one fit, then cached)", "PCA (instant)"]
    assert (shipped / "semi_supervised_4d" / "projection_pca.safetensors").is_file()
    assert plotly_spec(app, MAP_CHART)["layout"]["xaxis"]["title"]["text"] == "PC 1"
    click(app, ENCODED, 2)
    assert image_with(app, "Original")
    assert [e for e in app.get("plotly_chart") if e.key == "probs_chart"]   # class probabilities shown


def test_latent_map_fits_umap_in_the_background_and_shows_pca_meanwhile(app, shipped, monkeypatch, tmp_path):
    release = umap_stand_in.use_in_workers(monkeypatch, tmp_path, hold=True)   # the fit runs in a worker process
    open_page(app, "latent_map", "unsupervised_gaussian_20d", shipped)
    assert app.radio(key="map_method").value == "umap"
    assert app.progress and "UMAP" in app.progress[0].proto.text               # progress while it fits
    assert plotly_spec(app, MAP_CHART)["layout"]["xaxis"]["title"]["text"] == "PC 1"   # PCA meanwhile
    release.write_text("go")
    fp = catalog.weights_fingerprint(shipped / "unsupervised_gaussian_20d")
    task = tasks.TASKS.get(f"map:{fp}:umap")
    assert task.join(60) and task.status().state == "done"
    assert umap_worker.WORKER.process.pid != os.getpid()
    app.run()
    assert not app.progress
    assert plotly_spec(app, MAP_CHART)["layout"]["xaxis"]["title"]["text"] == "UMAP 1"
    assert projection.load_cached("umap", fp, shipped / "unsupervised_gaussian_20d") is not None


# --- Decoder sliders --------------------------------------------------------------------------------
def test_sliders_redraw_the_decoded_image(app):
    open_page(app, "sliders")
    sliders = [s for s in app.slider if s.key and s.key.startswith("slider_") and s.label.startswith("z")]
    assert [s.label for s in sliders] == ["z1", "z2"]
    assert [s.value for s in sliders] == [0.0, 0.0]                          # no click yet: starts at zero
    before = image_with(app, "Decoded image")
    app.run()
    assert image_with(app, "Decoded image") == before                        # same z, same picture
    sliders[0].set_value(2.0).run()
    assert not app.exception
    after = image_with(app, "Decoded image")
    assert after != before
    assert app.session_state["slider_z"]["z"][0] == pytest.approx(2.0)
    sweep = [urls for urls, caps in images(app) if len(urls) == 9]            # what one direction does
    assert len(sweep) == 1 and len(set(sweep[0])) > 1


def test_sliders_start_from_the_clicked_point(app):
    open_page(app, "latent_map")
    click(app, PRIOR, 5)
    z = list(app.session_state["selected"].z)
    open_page(app, "sliders")
    values = [s.value for s in app.slider if s.label in ("z1", "z2")]
    assert values == pytest.approx(z, abs=0.02)
    app.button(key="start_zero").click().run()
    assert [s.value for s in app.slider if s.label in ("z1", "z2")] == [0.0, 0.0]


def test_sliders_cap_at_16_and_offer_a_class_selector(app, shipped):
    open_page(app, "sliders", "unsupervised_gaussian_20d", shipped)
    assert [s.label for s in app.slider if s.label.startswith("z")] == [f"z{i}" for i in range(1, 17)]
    assert any("Dimensions 17-20 are held" in c.value for c in app.caption)
    open_page(app, "sliders", "semi_supervised_4d", shipped)
    selector = [r for r in app.radio if r.key and r.key.endswith("_class")]
    assert selector and selector[0].options == [str(k) for k in range(10)]
    before = image_with(app, "Decoded image (class 0)")
    selector[0].set_value(7).run()
    assert image_with(app, "Decoded image (class 7)") != before


# --- Style x class ----------------------------------------------------------------------------------
def test_style_by_class_sweeps_ten_digits_and_builds_a_grid(app, shipped):
    open_page(app, "style_class", "supervised_style_2d", shipped)
    row = image_with(app, "Class codes 0-9, left to right")
    assert len(row) == 1                                                      # one strip: it never wraps
    app.button(key="add_style").click().run()
    app.button(key="add_random").click().run()
    assert len(app.session_state["style_grid"]) == 6
    assert image_with(app, "Rows: styles")
    assert any("6 styles × 10 classes" in s.value for s in app.subheader)
    app.button(key="clear_grid").click().run()
    assert not [u for u, c in images(app) if c and c[0].startswith("Rows")]


def test_style_by_class_reports_the_measured_class_sweep(app, shipped):
    metrics = shipped / "supervised_style_2d" / "metrics.json"
    save_metrics(shipped / "supervised_style_2d", {
        "n_test": 200, "class_sweep": {"accuracy": 0.9708, "per_class": [0.97] * 10, "n_styles": 1000,
                                       "n_images": 10000, "judge_test_accuracy": 0.99}})
    try:
        open_page(app, "style_class", "supervised_style_2d", shipped)
        captions = [c.value for c in app.caption]
        assert any("reads 97.1 % of the class sweeps of 1,000 test-image styles" in c and "99.0 %" in c
                   for c in captions), captions
    finally:
        metrics.unlink()


def test_style_by_class_explains_itself_for_models_without_a_class_code(app):
    open_page(app, "style_class")
    assert not app.image and any("class code" in i.value for i in app.info[1:])


# --- Interpolate ------------------------------------------------------------------------------------
def test_interpolate_decodes_the_line_between_two_points(app, shipped):
    open_page(app, "interpolate", "supervised_style_2d", shipped)
    row = image_with(app, "A (original)")
    caps = next(c for u, c in images(app) if u == row)
    assert caps[0] == "A (original)" and caps[-1] == "B (original)" and len(row) == 10 + 2
    app.slider(key="interp_steps").set_value(5).run()
    assert len(image_with(app, "A (original)")) == 5 + 2
    app.selectbox(key="interp_b_source").set_value("Prior sample").run()
    assert not app.exception and app.radio(key="interp_class")               # a prior end needs a class
    assert len(image_with(app, "A (original)")) == 5 + 1
    path = plotly_spec(app, "path_chart")["data"][-1]                          # the path drawn on the map
    assert path["name"] == "path A → B" and len(path["text"]) == 5
