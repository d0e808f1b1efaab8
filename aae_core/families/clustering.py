"""Unsupervised clustering with an AAE (paper §6, Fig. 9, Table 3): the categorical AAE without labels.

The class head's categories become clusters: the discriminator on y asks for confident one-hot
codes, the one on z for a Gaussian style, and reconstruction asks (z, y) to say everything about x, so
each cluster gathers images that differ only in style. Every cluster is then named after the label most
of its images carry, and the error is the share of images whose cluster's label differs from theirs.
"""

from __future__ import annotations

from typing import Any

from ..metrics import clustering_error
from .semi_supervised import CategoricalAAE


class ClusteringAAE(CategoricalAAE):
    kind = "clustering"
    title = "clustering AAE"
    summary = "The class head finds clusters without any labels (paper §6, Table 3)."
    explanation = (
        "The same two codes as the semi-supervised AAE, a category y and a style z, but no labels at all: "
        "the discriminator on y asks for confident one-hot codes, so the encoder sorts the images into "
        "clusters on its own. Many clusters are purer than ten: one digit may take several (a slanted and an "
        "upright 1).")
    map_note = (
        "This map shows the style z only, so the colours (the true labels, which the model never saw) mix, and "
        "that is the point: the cluster lives in y, not here. The Style × class page shows what each cluster "
        "gathered.")
    class_noun = "cluster"
    default_recipe = "clustering_16"
    phases = ("reconstruction", "discriminator", "generator")

    @classmethod
    def headline(cls, metrics: dict[str, Any]) -> tuple[str, str] | None:
        if "clustering_error" in metrics:
            return "test clustering error", f"{100 * metrics['clustering_error']:.2f} %"
        return super().headline(metrics)

    def quick_metrics(self, x, y):
        return {"eval_error": clustering_error(self, x, y)}

    def family_metrics(self, x, y, z):
        return {"clustering_error": clustering_error(self, x, y)}
