"""The paper beside the model: the figures and tables of Makhzani et al. (2015) the shipped models reproduce,
which shipped checkpoint stands for each (the recipe book's `paper` field), the page that shows it, and the
paper's number next to ours (metrics.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aae_core import metric_schema as S
from aae_core.recipes import RECIPES
from explorer import catalog

PAGES = "explorer/pages"


@dataclass(frozen=True)
class PaperView:
    """One figure or table of the paper and how to see it here."""

    label: str                      # "Fig. 2", as the recipes' `paper` field starts
    title: str
    paper_shows: str
    page: str                       # the page that shows it
    page_title: str
    metric: S.Metric | None = None   # the metrics.json number compared with the paper's
    paper_values: dict[str, float] = field(default_factory=dict)  # recipe -> the paper's value (a fraction)
    compare_with: dict[str, str] = field(default_factory=dict)    # recipe -> the recipe to open beside it
    our_words: str = ""             # what our number means where the paper gives none

    @property
    def recipes(self) -> list[str]:
        """The recipes (= shipped model names) whose `paper` field names this view, in book order."""
        return [r.name for r in RECIPES.values() if r.paper.split(" (")[0] == self.label]


VIEWS: tuple[PaperView, ...] = (
    PaperView("Fig. 2", "An AAE's codes fill the prior; a VAE's leave gaps",
              "Codes of MNIST test images under a 2-D Gaussian prior: the AAE's match the prior's shape, the VAE's "
              "(same sizes, a KL term instead of a discriminator) crowd the centre and leave holes.",
              f"{PAGES}/compare.py", "Compare", compare_with={"unsupervised_gaussian_2d": "vae_2d"}),
    PaperView("Fig. 4", "Label-conditioned priors: each digit gets its own part",
              "With the label given to the discriminator, each digit's codes go to its own component of a "
              "10-Gaussian mixture, or its own segment of a swiss roll.",
              f"{PAGES}/latent_map.py", "Latent map", metric=S.OWN_COMPONENT,
              our_words="of test codes lie in their own digit's component"),
    PaperView("Fig. 6", "Style and content apart: one style written as every digit",
              "A supervised AAE gives the decoder the label, so z keeps only the style; a row of the figure is one "
              "style decoded with each digit.",
              f"{PAGES}/style_class.py", "Style × class", metric=S.CLASS_SWEEP,
              our_words="of the class-swept decodings of test-image styles are read as the intended digit by a "
                        "separate digit classifier"),
    PaperView("Table 2", "Semi-supervised classification with 100 and 1000 labels",
              "Test error of the semi-supervised AAE's class head on MNIST with 100 and 1000 labelled images.",
              f"{PAGES}/classes.py", "Classes & clusters", metric=S.CLASSIFICATION_ERROR,
              paper_values={"semi_supervised_100": 0.0190, "semi_supervised_1000": 0.0160}),
    PaperView("Table 3", "Unsupervised clustering into 16 and 30 clusters",
              "Each cluster is named after its majority digit; the error is the share of test images whose "
              "cluster's digit differs from theirs.",
              f"{PAGES}/classes.py", "Classes & clusters", metric=S.CLUSTERING_ERROR,
              paper_values={"clustering_16": 0.0955, "clustering_30": 0.0410}),
)


def shipped_models() -> dict[str, catalog.CheckpointInfo]:
    """The shipped checkpoints by name (a shipped model's folder is named after its recipe)."""
    return {i.name: i for i in catalog.list_checkpoints() if i.source == "shipped"}


def our_value(view: PaperView, info: catalog.CheckpointInfo | None) -> float | None:
    """Our number for `view` from the checkpoint's metrics.json (None when not evaluated)."""
    metrics: dict[str, Any] = (info.metrics if info is not None else None) or {}
    return view.metric.read(metrics) if view.metric else None


def gap_words(ours: float, paper: float) -> str:
    """How far an error of ours is from the paper's, in plain words."""
    diff = 100 * (ours - paper)
    if abs(diff) < 0.1:
        return "the same as the paper's"
    if diff < 0:
        return f"{-diff:.2f} points better than the paper's"
    ratio = ours / paper if paper else float("inf")
    return f"{diff:.2f} points worse than the paper's ({ratio:.1f}x its error)"
