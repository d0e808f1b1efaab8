"""Shared fixtures: tiny configs and a small synthetic MNIST in torchvision's layout."""

from __future__ import annotations

import pytest
import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import ImageSet, write_idx_dataset

# Tiny models gain nothing from intra-op threads, and on a busy 2-core machine torch's worker threads
# fight other processes for the cores (measured: one tiny training step 4.6 ms single-threaded, 1 s with 2).
torch.set_num_threads(1)

TINY = dict(hidden_dim=32, disc_hidden_dim=32, n_hidden_layers=2)


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


def start_app(checkpoints, data_dir: str, tmp_path, monkeypatch, *, timeout: float = 30):
    """app.py under AppTest, run once, against the checkpoints folder `checkpoints`, the fake MNIST in
    `data_dir`, and runs and caches under tmp_path (nothing of the user's is touched)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    for name, value in {"AAE_CHECKPOINTS_DIR": checkpoints, "AAE_RUNS_DIR": tmp_path / "runs",
                        "AAE_DATA_DIR": data_dir, "AAE_CACHE_DIR": tmp_path / "cache"}.items():
        monkeypatch.setenv(name, str(value))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at
