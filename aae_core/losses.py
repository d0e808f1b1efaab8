"""Pure loss functions; every one returns a scalar averaged over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood summed over pixels, mean over images. [N, 784] each."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / target.shape[0]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D should say 1 for prior samples and 0 for encoded codes (paper §2, Eq. 1)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The encoder fools D: non-saturating form, -log D(q(z|x))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_std: float) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, prior_std² I)) summed over dims, mean over the batch."""
    mu, logvar = mu.float(), logvar.float()   # under bf16 autocast these arrive as bfloat16
    var_p = prior_std ** 2
    kl = 0.5 * ((logvar.exp() + mu.pow(2)) / var_p - 1.0 - logvar + torch.log(torch.tensor(var_p)))
    return kl.sum(dim=1).mean()


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)
