"""Unsupervised clustering with an AAE (paper §6, Fig. 9, Table 3): the categorical AAE without labels.

The class head's categories become clusters: the discriminator on y asks for confident one-hot
codes, the one on z for a Gaussian style, and reconstruction asks (z, y) to say everything about x, so
each cluster gathers images that differ only in style. Every cluster is then named after the label most
of its images carry, and the error is the share of images whose cluster's label differs from theirs.
"""

from __future__ import annotations

from .base import ClassCode
from .scoring import clustering_error
from .semi_supervised import CategoricalAAE


class ClusteringAAE(CategoricalAAE):
    kind = "clustering"
    classes = ClassCode("cluster", predicted=True)
    phases = ("reconstruction", "discriminator", "generator")

    def metrics(self, x, y, *, per_epoch=False, judge=None):
        error = clustering_error(self, x, y)
        return {"eval_error": error} if per_epoch else {"clustering_error": error}
