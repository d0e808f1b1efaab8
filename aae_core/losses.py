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


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Each row of v scaled to L2 norm 1 (a zero row stays zero)."""
    return v / v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def adversarial_direction(classify, x: torch.Tensor, *, xi: float = 1e-2, generator: torch.Generator | None = None,
                          target: torch.Tensor | None = None) -> torch.Tensor:
    """Unit rows r [N, 784]: for each image, the direction in which the class head's answer changes most (the top
    eigenvector of the KL's Hessian at x), from one power iteration started at a random direction: the gradient of
    KL(p(y|x) || p(y|x + xi d)). xi is the finite difference: 1e-2 agrees with a float64 search to a cosine of
    0.99+; the paper's 1e-6 gives noise in fp32 (cosine 0.1 on a 784-512-512 encoder: about 3.5e-8 per pixel,
    below the rounding of activations near 1). target: p(y|x) when the caller has it. Runs in fp32 with autocast
    off, and under no_grad too."""
    with torch.autocast(x.device.type, enabled=False), torch.enable_grad():
        x = x.detach().float()
        if target is None:
            with torch.no_grad():
                target = F.softmax(classify(x), dim=1)
        d = (xi * _unit(torch.randn(x.shape, generator=generator, device=x.device))).requires_grad_(True)
        kl = F.kl_div(F.log_softmax(classify(x + d), dim=1), target, reduction="batchmean")
        (grad,) = torch.autograd.grad(kl, d)
    return _unit(grad)


def virtual_adversarial(classify, x: torch.Tensor, eps: float, *, xi: float = 1e-2,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Virtual adversarial training's consistency loss (Miyato et al., TPAMI 2018): KL(p(y|x) || p(y|x + r)) for
    r = eps * adversarial_direction(x), the perturbation of L2 norm eps that changes the prediction most. Needs no
    labels; only `classify`'s weights get gradients, through the perturbed side (the prediction at x is the fixed
    target). fp32 whatever the autocast. classify: images [N, 784] -> logits [N, K]; x [N, 784]."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.detach().float()
        with torch.no_grad():
            target = F.softmax(classify(x), dim=1)
        r_adv = eps * adversarial_direction(classify, x, xi=xi, generator=generator, target=target)
        return F.kl_div(F.log_softmax(classify(x + r_adv), dim=1), target, reduction="batchmean")
