"""UMAP fits in a worker process (explorer.umap_worker): another process, at a lower priority, kept for the next
fit; one fit at once; a killed worker is one line and the next fit works; a map fitted on a sample says so.
The worker runs a stand-in umap (tests/umap_stand_in.py); the fit's own code (aae_core.umap_fit) is real."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import umap_stand_in
from conftest import synthetic_images, tiny_config

import aae_core
from aae_core import projection, umap_fit
from explorer import figures, tasks, umap_worker


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """Workers started from here run the stand-in umap; it writes where it ran to pids.txt and, once `hold` is
    called, waits for release.txt."""
    monkeypatch.setattr(umap_worker, "CHILD_SETUP", umap_stand_in.install)
    monkeypatch.setenv("AAE_TEST_UMAP_PID", str(tmp_path / "pids.txt"))
    monkeypatch.setenv("AAE_CACHE_DIR", str(tmp_path / "cache"))
    workers = []

    def make(hold: bool = False) -> umap_worker.UmapWorker:
        if hold:
            monkeypatch.setenv("AAE_TEST_UMAP_RELEASE", str(tmp_path / "release.txt"))
        workers.append(umap_worker.UmapWorker())
        return workers[-1]

    yield make
    for w in workers:
        w.stop()


def _points(n: int = 300, d: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _ran_in(tmp_path) -> list[tuple[int, int]]:
    file = tmp_path / "pids.txt"
    return [tuple(map(int, line.split())) for line in file.read_text().split("\n") if line] if file.exists() else []


def _wait_for(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_the_fit_runs_in_a_kept_worker_process_at_a_lower_priority(stand_in, tmp_path):
    worker = stand_in()
    seen = []
    xy, fitted = worker.fit(_points(), progress=lambda f, m: seen.append((f, m)))
    pid = worker.process.pid
    assert pid != os.getpid() and _ran_in(tmp_path) == [(pid, 300)]          # fitted there, all 300 points
    assert worker.process.name.startswith("aae-umap-")
    assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0)
    assert xy.shape == (300, 2) and fitted == 300
    np.testing.assert_allclose(xy, _points()[:, :2] + 100.0)
    messages = [m for _, m in seen]
    assert messages[0] == umap_worker.STARTING                               # a fresh worker: its imports show
    assert messages[1].startswith("neighbour graph: the 15 nearest") and "layout: epoch 100 of 200" in messages
    seen.clear()
    worker.fit(_points(seed=1), progress=lambda f, m: seen.append((f, m)))
    assert worker.process.pid == pid and [p for p, _ in _ran_in(tmp_path)] == [pid, pid]   # kept for the next
    assert umap_worker.STARTING not in [m for _, m in seen]


def test_a_killed_worker_is_one_line_and_the_next_fit_works(stand_in, tmp_path):
    worker = stand_in(hold=True)
    failed = []

    def fit() -> None:
        try:
            worker.fit(_points())
        except umap_worker.WorkerDied as exc:
            failed.append(str(exc))

    thread = threading.Thread(target=fit)
    thread.start()
    _wait_for(lambda: _ran_in(tmp_path))                                      # the worker is fitting
    first = worker.process.pid
    os.kill(first, signal.SIGKILL)
    thread.join(30)
    [line] = failed
    assert "killed (SIGKILL)" in line and "Try again" in line and "\n" not in line
    (tmp_path / "release.txt").write_text("go")
    xy, _ = worker.fit(_points())
    assert xy.shape == (300, 2) and worker.process.pid != first


def test_a_failing_fit_is_one_line_and_the_worker_stays(stand_in):
    worker = stand_in()
    worker.fit(_points())
    pid = worker.process.pid
    with pytest.raises(umap_worker.WorkerDied) as exc:
        worker.fit(np.full((50, 4), np.nan, np.float32))                      # scikit-learn refuses NaN
    assert "ValueError" in str(exc.value) and "\n" not in str(exc.value)
    worker.fit(_points())
    assert worker.process.pid == pid


def test_one_map_fits_at_once_and_the_other_waits_saying_so(stand_in, tmp_path):
    worker = stand_in(hold=True)
    shared = tasks.TaskRegistry(max_running=1)
    a = shared.get_or_start("a", lambda progress: worker.fit(_points(), progress=progress))
    b = shared.get_or_start("b", lambda progress: worker.fit(_points(seed=1), progress=progress))
    _wait_for(lambda: _ran_in(tmp_path))
    time.sleep(0.5)
    assert len(_ran_in(tmp_path)) == 1 and "waiting" in b.status().message   # one fit at once
    (tmp_path / "release.txt").write_text("go")
    assert a.join(30) and b.join(30)
    assert a.status().state == b.status().state == "done" and len(_ran_in(tmp_path)) == 2


def test_a_killed_worker_reaches_the_page_as_its_own_words(stand_in, tmp_path):
    worker = stand_in(hold=True)
    task = tasks.TaskRegistry().get_or_start("m", lambda progress: worker.fit(_points(), progress=progress))
    _wait_for(lambda: _ran_in(tmp_path))
    os.kill(worker.process.pid, signal.SIGKILL)
    assert task.join(30) and task.status().state == "failed"
    assert task.status().error.startswith("its worker process was killed (SIGKILL)")   # no class name before it


def test_a_large_map_fits_a_sample_places_the_rest_and_says_how_many(stand_in, tmp_path):
    worker = stand_in()
    model = aae_core.build_model(tiny_config(latent_dim=4))
    lmap = projection.compute_map(model, synthetic_images(150, seed=2), "umap", fingerprint="f", n_prior=50,
                                  fit_points=80, fit=worker.fit)
    assert [n for _, n in _ran_in(tmp_path)] == [80] and lmap.fit_points == 80   # 80 of the 200 fitted
    both = np.concatenate([lmap.z, lmap.prior_z])
    placed = np.concatenate([lmap.xy, lmap.prior_xy])
    fitted = np.isclose(placed, both[:, :2] + 100.0).all(1)   # where the stand-in put them (or a copy of one)
    assert 80 <= fitted.sum() < 200
    lo, hi = placed[fitted].min(0), placed[fitted].max(0)
    assert ((placed[~fitted] >= lo) & (placed[~fitted] <= hi)).all()       # the rest among the fitted ones
    saved = projection.save_cached(lmap, tmp_path / "ckpt")
    assert projection.read_cache(saved, "umap", "f").fit_points == 80        # the cache keeps the count
    fig = figures.latent_map_figure(lmap)
    [count] = [a.text for a in fig.layout.annotations if "test images" in a.text]
    assert count == "150 test images and 50 prior samples; UMAP fitted 80 of these 200 and placed the rest " \
                    "among their nearest fitted neighbours"
    hidden = figures.latent_map_figure(lmap, show_prior=False)
    assert any(a.text.startswith("150 test images; UMAP fitted 80") for a in hidden.layout.annotations)


def test_every_map_says_how_many_points_it_shows(tmp_path):
    model = aae_core.build_model(tiny_config(latent_dim=4))
    lmap = projection.compute_map(model, synthetic_images(120, seed=2), "pca", fingerprint="f", n_prior=30)
    [count] = [a.text for a in figures.latent_map_figure(lmap).layout.annotations if "test images" in a.text]
    assert count == "120 test images and 30 prior samples"


def test_a_point_is_placed_among_its_nearest_fitted_neighbours():
    fitted = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], np.float32)
    fitted_xy = np.array([[1.0, 1.0], [5.0, 5.0], [9.0, 9.0]], np.float32)
    xy = umap_fit.place_among(np.array([[0.0, 0.0], [10.0, 0.0]], np.float32), fitted, fitted_xy, k=3)
    np.testing.assert_allclose(xy, fitted_xy[:2], atol=1e-4)                  # a copy lands on its original
    between = umap_fit.place_among(np.array([[5.0, 0.0]], np.float32), fitted, fitted_xy, k=2)
    np.testing.assert_allclose(between, [[3.0, 3.0]], atol=1e-4)              # equidistant: the mean
