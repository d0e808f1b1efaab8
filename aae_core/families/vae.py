"""The variational autoencoder baseline (Kingma & Welling, 2014) with the AAE's encoder and decoder sizes.

Where the AAE shapes the codes with a discriminator, the VAE adds a KL term that pulls each image's
posterior q(z|x) toward N(0, σ² I). encode() returns the posterior mean.
"""

from __future__ import annotations

import torch

from .. import losses
from ..config import IMAGE_SIZE, ModelConfig
from ..networks import mlp
from .base import AAEModel, flatten_images


class VAE(AAEModel):
    kind = "vae"
    phases = ("elbo",)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder = mlp(IMAGE_SIZE, c.hidden_dim, c.n_hidden_layers, 2 * c.latent_dim)
        self.decoder = mlp(c.latent_dim, c.hidden_dim, c.n_hidden_layers, IMAGE_SIZE)

    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images -> (mean, log-variance), each [N, latent_dim]."""
        mu, logvar = self.encoder(flatten_images(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 10.0)

    def encode(self, x):
        return self._posterior(x)[0]

    def _decode_logits(self, z, y=None):
        return self.decoder(self._check_z(z))

    def _reconstruct_logits(self, x, y=None):
        return self.decoder(self.encode(x))

    def phase_modules(self, phase):
        return {"elbo": [self.encoder, self.decoder]}[phase]

    def optimizer_settings(self, phase, tc):
        if phase != "elbo":
            raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")
        return tc.lr_reconstruction, (0.9, 0.999)

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        if phase != "elbo":
            raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")
        mu, logvar = self._posterior(batch.inputs)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + eps * torch.exp(0.5 * logvar)
        return (losses.reconstruction_bce(self.decoder(z), batch.x)
                + losses.gaussian_kl(mu, logvar, self.config.prior_std))
