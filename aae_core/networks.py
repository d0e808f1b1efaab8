"""Plain multilayer perceptrons sized from a config (paper appendix: two hidden layers of 1000 ReLUs)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden_dim: int, n_hidden: int, out_dim: int) -> nn.Sequential:
    """in_dim -> n_hidden x (Linear + ReLU) -> Linear(out_dim). No batch norm: it destabilises
    adversarial training of the discriminators (public reproductions)."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    """D(code [, condition]) -> one logit per row: is the code a prior sample?"""

    def __init__(self, code_dim: int, hidden_dim: int, n_hidden: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.net = mlp(code_dim + cond_dim, hidden_dim, n_hidden, 1)

    def forward(self, code: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.cond_dim:
            code = torch.cat([code, cond], dim=1)
        return self.net(code).squeeze(1)
