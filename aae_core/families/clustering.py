"""Unsupervised clustering with an AAE (paper §6, Fig. 9, Table 3): the categorical AAE without labels.

The class head's categories become clusters: the discriminator on y asks for confident one-hot
codes, the one on z for a Gaussian style, and reconstruction asks (z, y) to say everything about x, so
each cluster gathers images that differ only in style. Every cluster is then named after the label most
of its images carry, and the error is the share of images whose cluster's label differs from theirs.
"""

from __future__ import annotations

from ..metric_schema import CLUSTERING_ERROR
from ..metrics import clustering_error
from .semi_supervised import CategoricalAAE


class ClusteringAAE(CategoricalAAE):
    kind = "clustering"
    headline_metric = CLUSTERING_ERROR
    title = "clustering AAE"
    class_noun = "cluster"
    default_recipe = "clustering_16"
    phases = ("reconstruction", "discriminator", "generator")

    def quick_metrics(self, x, y):
        return {"eval_error": clustering_error(self, x, y)}

    def family_metrics(self, x, y, z):
        return {"clustering_error": clustering_error(self, x, y)}
