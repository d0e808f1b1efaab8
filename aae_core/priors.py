"""Priors p(z) behind one interface, picked by name from a registry (paper §2, Fig. 2-4).

Every prior draws with ``sample(n, *, labels=None, generator=None)``. Label-conditioned priors
(mixture, swiss roll) give each label its own component / segment (paper §2.3); a label of -1
means "unlabelled" and draws from the whole prior.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .config import ModelConfig
from .prior_shapes import CategoricalShape, GaussianShape, MixtureShape, PriorShape, SwissRollShape


class Prior(PriorShape):
    """A distribution over codes z of size ``dim`` that can be sampled on any device. Its shape rules
    (latent_dim_for, parts_per_label, has_std, has_radius) are declared torch-free in aae_core.prior_shapes."""

    dim: int
    n_components: int = 0

    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw n codes, [n, dim]. labels [n] (int, -1 = any component) picks the component."""
        raise NotImplementedError

    def constrain(self, z: torch.Tensor) -> torch.Tensor:
        """Map an encoder's raw output onto the prior's support (identity unless the support is bounded)."""
        return z

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Component / segment index of each code [N, dim] -> [N] (priors with components only)."""
        raise ValueError(f"the {self.name} prior has no components to assign codes to")

    def _device(self, generator: torch.Generator | None, device, labels) -> torch.device:
        if device is not None:
            return torch.device(device)
        if generator is not None:
            return generator.device
        if labels is not None:
            return labels.device
        return torch.device("cpu")

    def _components(self, n: int, labels, generator, device) -> torch.Tensor:
        """Component per sample: the label where given (>= 0), uniform otherwise."""
        comp = torch.randint(0, self.n_components, (n,), generator=generator, device=device)
        if labels is not None:
            labels = torch.as_tensor(labels, device=device).long().reshape(-1)
            if labels.shape[0] != n:
                raise ValueError(f"labels must have {n} entries; got {labels.shape[0]}")
            if (labels >= self.n_components).any() or (labels < -1).any():
                raise ValueError(f"labels must be in [-1, {self.n_components - 1}] (-1 = unlabelled)")
            comp = torch.where(labels >= 0, labels, comp)
        return comp


class GaussianPrior(GaussianShape, Prior):
    """N(0, σ² I) in any dimension; the paper's 2-D figures use σ = 5."""

    def __init__(self, dim: int, std: float = 1.0) -> None:
        self.dim, self.std = dim, float(std)

    def sample(self, n, *, labels=None, generator=None, device=None):
        device = self._device(generator, device, labels)
        return self.std * torch.randn(n, self.dim, generator=generator, device=device)


class MixturePrior(MixtureShape, Prior):
    """K 2-D Gaussians with means on a circle, each stretched along its radius (paper Fig. 4)."""

    def __init__(self, n_components: int = 10, radius: float = 4.0,
                 radial_std: float = 1.0, tangential_std: float = 0.25) -> None:
        self.dim, self.n_components = 2, n_components
        self.radius, self.radial_std, self.tangential_std = radius, radial_std, tangential_std
        angles = torch.arange(n_components, dtype=torch.float32) * (2 * math.pi / n_components)
        self.angles = angles

    def sample(self, n, *, labels=None, generator=None, device=None):
        device = self._device(generator, device, labels)
        comp = self._components(n, labels, generator, device)
        eps = torch.randn(n, 2, generator=generator, device=device)
        theta = self.angles.to(device)[comp]
        r = self.radius + self.radial_std * eps[:, 0]
        t = self.tangential_std * eps[:, 1]
        # Radial direction (cos, sin), tangential (-sin, cos).
        x = r * torch.cos(theta) - t * torch.sin(theta)
        y = r * torch.sin(theta) + t * torch.cos(theta)
        return torch.stack([x, y], dim=1)

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        theta = torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)
        width = 2 * math.pi / self.n_components
        return torch.round(theta / width).long() % self.n_components


class SwissRollPrior(SwissRollShape, Prior):
    """A 2-D swiss roll; label k owns the k-th of K equal segments along the roll (paper Fig. 4)."""

    def __init__(self, n_components: int = 10, radius: float = 4.0, noise: float = 0.1,
                 turns: float = 1.5) -> None:
        self.dim, self.n_components = 2, n_components
        self.radius, self.noise, self.turns = radius, noise, turns

    def _point(self, u: torch.Tensor) -> torch.Tensor:
        # u in [0, 1] runs along the roll; radius grows from 0.25R to R.
        theta = 2 * math.pi * self.turns * u
        r = self.radius * (0.25 + 0.75 * u)
        return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)

    def sample(self, n, *, labels=None, generator=None, device=None):
        device = self._device(generator, device, labels)
        comp = self._components(n, labels, generator, device)
        u = (comp.float() + torch.rand(n, generator=generator, device=device)) / self.n_components
        noise = self.noise * torch.randn(n, 2, generator=generator, device=device)
        return self._point(u) + noise

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        grid_u = torch.linspace(0, 1, 2001, device=z.device)
        curve = self._point(grid_u)                      # [G, 2]
        nearest = torch.cdist(z.float(), curve).argmin(dim=1)
        return torch.clamp((grid_u[nearest] * self.n_components).long(), max=self.n_components - 1)


class CategoricalPrior(CategoricalShape, Prior):
    """One-hot vectors over K categories, uniform (or the given labels)."""

    def __init__(self, n_components: int) -> None:
        self.dim = self.n_components = n_components

    def sample(self, n, *, labels=None, generator=None, device=None):
        device = self._device(generator, device, labels)
        comp = self._components(n, labels, generator, device)
        return F.one_hot(comp, self.n_components).float()

    def constrain(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(z, dim=-1)

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        return z.argmax(dim=-1)


PRIOR_TYPES: dict[str, type[Prior]] = {p.name: p for p in (GaussianPrior, MixturePrior, SwissRollPrior,
                                                            CategoricalPrior)}
PRIORS: dict[str, Callable[[ModelConfig], Prior]] = {
    "gaussian": lambda c: GaussianPrior(c.latent_dim, c.prior_std),
    "mixture": lambda c: MixturePrior(c.n_classes, c.prior_radius),
    "swiss_roll": lambda c: SwissRollPrior(c.n_classes, c.prior_radius),
    "categorical": lambda c: CategoricalPrior(c.latent_dim),
}


def build_prior(config: ModelConfig) -> Prior:
    """The prior of z that config names."""
    try:
        return PRIORS[config.prior](config)
    except KeyError:
        raise ValueError(f"unknown prior {config.prior!r}; choose one of {', '.join(PRIORS)}") from None
