"""Shared fixtures: tiny configs, a small synthetic MNIST in torchvision's layout, folders of tiny checkpoints
and the app run over them through AppTest, and the helpers of the tests that train runs in the background."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

import aae_core
from aae_core.checkpoint import save_metrics
from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import ImageSet, write_idx_dataset

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

# Tiny models gain nothing from intra-op threads, and on a busy 2-core machine torch's worker threads
# fight other processes for the cores (measured: one tiny training step 4.6 ms single-threaded, 1 s with 2).
torch.set_num_threads(1)

TINY = dict(hidden_dim=32, disc_hidden_dim=32, n_hidden_layers=2)
MODEL = "model_ref"                                     # the picker's key (explorer.state.MODEL_KEY)
MAP_CHART = "latent_map_chart"                          # the Latent map's chart key
# A prior-fit record as metrics.json holds it (aae_core.metrics): a 2-D code against a prior of sigma 5.
FIT = {"encoded": {"mean": [0.5, 0.1], "std": [2.0, 5.1], "skewness": [0.3, 0.0], "excess_kurtosis": [1.0, 0.1]},
       "prior": {"mean": [0.0, 0.0], "std": [5.0, 5.0], "skewness": [0.0, 0.0], "excess_kurtosis": [0.0, 0.0]},
       "mmd": 0.0123, "mmd_same_prior": -0.0002}


def tiny_config(kind: str = "unsupervised", **overrides) -> ModelConfig:
    """A small ModelConfig of any kind, with the labels / classes that kind needs."""
    base = dict(TINY, kind=kind)
    if kind in ("supervised", "semi_supervised"):
        base["n_labels"] = 100
    base.update(overrides)
    return ModelConfig(**base)


def synthetic_images(n: int, seed: int = 0) -> ImageSet:
    """n 28x28 uint8 images whose class is a bright horizontal bar at row 2 + 2*label: learnable, not noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
    rows = 2 + 2 * labels
    for i in range(n):
        images[i, rows[i]:rows[i] + 2, 4:24] = 255
    return ImageSet(images, labels)


@pytest.fixture
def tiny_train_config() -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=20, labelled_batch_size=10, eval_size=0)


@pytest.fixture(scope="session")
def fake_mnist_dir(tmp_path_factory) -> str:
    """A data folder holding a 600-train / 200-test synthetic MNIST in torchvision's raw layout."""
    root = tmp_path_factory.mktemp("fake_mnist")
    write_idx_dataset(root / "MNIST" / "raw", synthetic_images(600, seed=1), synthetic_images(200, seed=2))
    return str(root)


@pytest.fixture
def fake_data(fake_mnist_dir, monkeypatch) -> str:
    """Runs (and the app) read the fake MNIST."""
    monkeypatch.setenv("AAE_DATA_DIR", fake_mnist_dir)
    return fake_mnist_dir


def run_train_config(epochs: int = 2, **overrides) -> TrainConfig:
    """A run over the fake MNIST's 600 training images, no validation split: 30 steps of 20 per epoch (5 for a
    kind that trains on its 100 labelled images)."""
    return TrainConfig(**{**dict(epochs=epochs, batch_size=20, labelled_batch_size=10, eval_size=50,
                                 validation_fraction=0.0), **overrides})


def wait_for(predicate: Callable[[], bool], timeout: float = 180.0) -> None:
    """Poll until predicate() holds; AssertionError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.01)


def save_models(root: Path, models: dict[str, ModelConfig], metrics: dict[str, dict] | None = None) -> Path:
    """A checkpoints folder: each config built untrained (seeded by its place in `models`) and saved as
    root/<name>, with its metrics.json where `metrics` has one."""
    for seed, (name, config) in enumerate(models.items()):
        aae_core.save(aae_core.build_model(config, seed=seed), root / name)
        if metrics and name in metrics:
            save_metrics(root / name, metrics[name])
    return root


@pytest.fixture
def app(shipped, fake_mnist_dir, tmp_path, monkeypatch) -> AppTest:
    """app.py run once over the checkpoints folder of the requesting module's `shipped` fixture."""
    return start_app(shipped, fake_mnist_dir, tmp_path, monkeypatch, timeout=60)


def ref(shipped: Path, name: str) -> str:
    """The picker's value for the checkpoint `name` of the folder `shipped`."""
    return str((shipped / name).resolve())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(at: AppTest, page: str, model: str | None = None, shipped: Path | None = None) -> AppTest:
    """Pick `model` of the folder `shipped` (if given), switch to explorer/pages/<page>.py, and check that it
    ran without an exception."""
    if model is not None:
        at.selectbox(key=MODEL).set_value(ref(shipped, model)).run()
    at.switch_page(f"explorer/pages/{page}.py").run()
    return ok(at)


def click(at: AppTest, source: int, index: int, x: float = 0.0, y: float = 0.0, as_list: bool = False) -> AppTest:
    """What the browser sends when a point of the latent map is clicked (customdata rows of a typed array
    arrive as {"0": ..., "1": ..., "2": ...}; plain lists are accepted too)."""
    data = [source, index, -1] if as_list else {"0": source, "1": index, "2": -1}
    point = {"curve_number": 0, "point_number": index, "point_index": index, "x": x, "y": y, "customdata": data}
    at.session_state[MAP_CHART] = {"selection": {"points": [point], "point_indices": [index], "box": [], "lasso": []}}
    at.run()
    return ok(at)


def start_app(checkpoints, data_dir: str, tmp_path, monkeypatch, *, timeout: float = 30):
    """app.py under AppTest, run once, against the checkpoints folder `checkpoints`, the fake MNIST in
    `data_dir`, and runs and caches under tmp_path (nothing of the user's is touched)."""
    from streamlit.testing.v1 import AppTest

    for name, value in {"AAE_CHECKPOINTS_DIR": checkpoints, "AAE_RUNS_DIR": tmp_path / "runs",
                        "AAE_DATA_DIR": data_dir, "AAE_CACHE_DIR": tmp_path / "cache"}.items():
        monkeypatch.setenv(name, str(value))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def every_page_runs(at: AppTest) -> list[str]:
    """Switch to every page of explorer/pages with the picked model: none raises, none shows an error that says
    something could not be done or failed (an untrained model's prior-fit verdict may be red). Returns the pages."""
    pages = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "explorer" / "pages").glob("*.py"))
    for page in pages:
        at.switch_page(f"explorer/pages/{page}").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        failures = [e.value for e in at.error if any(w in e.value.lower() for w in ("could not", "failed", "error"))]
        assert not failures, (page, failures)
    return pages


def assert_trained(out: Path, config: ModelConfig) -> None:
    """The run's checkpoint in `out` loads and its weights moved from where a model of `config` starts."""
    model = aae_core.load(out)
    init = aae_core.build_model(config, seed=0)
    assert not torch.equal(model.decoder[0].weight, init.decoder[0].weight)


def two_epoch_run(job_class, out: Path, timeout: float = 180):
    """A 2-epoch run of a tiny supervised model by job_class (explorer.runs' TrainingJob or WorkerJob) into out,
    waited for: (the job, its final status)."""
    job = job_class(tiny_config("supervised"), run_train_config(epochs=2), out, snapshot_every_s=0.0).start()
    assert job.join(timeout)
    return job, job.status()

