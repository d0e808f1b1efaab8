"""One tiny ModelConfig per model family the library offers, shared by the model, training and
checkpoint tests."""

from __future__ import annotations

from conftest import tiny_config

from aae_core.config import ModelConfig

MODEL_CASES: dict[str, ModelConfig] = {
    "unsupervised_gaussian": tiny_config("unsupervised"),
    "unsupervised_gaussian_8d": tiny_config("unsupervised", latent_dim=8, prior_std=5.0),
    "unsupervised_mixture": tiny_config("unsupervised", prior="mixture"),
    "unsupervised_swiss_roll": tiny_config("unsupervised", prior="swiss_roll"),
    "unsupervised_categorical": tiny_config("unsupervised", prior="categorical", latent_dim=10),
    "label_conditioned_mixture": tiny_config("unsupervised", prior="mixture", label_conditioned=True, n_labels=100),
    "label_conditioned_swiss_roll": tiny_config("unsupervised", prior="swiss_roll", label_conditioned=True,
                                                n_labels=100),
    "supervised": tiny_config("supervised", latent_dim=3),
    "label_conditioned_supervised": tiny_config("supervised", latent_dim=3, label_conditioned=True),
    "semi_supervised": tiny_config("semi_supervised", latent_dim=4),
    "label_conditioned_semi_supervised": tiny_config("semi_supervised", latent_dim=4, label_conditioned=True),
    "consistency_semi_supervised": tiny_config("semi_supervised", latent_dim=4, consistency_eps=0.5),
    "clustering": tiny_config("clustering", n_classes=16, latent_dim=5),
    "label_conditioned_clustering": tiny_config("clustering", n_classes=16, latent_dim=5, label_conditioned=True),
    "vae": tiny_config("vae", latent_dim=3),
}

CASE_IDS = list(MODEL_CASES)


def class_code(config: ModelConfig, n: int):
    """Labels to decode with, for models whose decoder needs a class code (None otherwise)."""
    import torch

    return torch.arange(n) % config.n_classes if config.classes else None
