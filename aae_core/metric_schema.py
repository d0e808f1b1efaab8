"""metrics.json's numbers, named once: where each sits in the file, what it is called, how it is written.

`python -m aae_core.evaluate` writes metrics.json (aae_core.metrics, the families' `metrics` hook, whose record is
FamilyNumbers below); everything that reads it (each family's headline in explorer/family_text.py, the app's Home
and Paper pages, the Latent map's note, benchmarks/report.py) asks a Metric here instead of spelling its key
(tests/test_metric_schema.py scans explorer/, benchmarks/ and app.py for the keys).
Standard library only: the app reads metrics without importing torch.

    MSE.read(metrics)            # 0.0108, or None where the file has no such number
    MSE.show(metrics)            # '0.0108', or None
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict


def _at(metrics: dict[str, Any] | None, key: str) -> Any:
    """What a metrics.json holds at a dotted key ("prior_fit.mmd"), or None."""
    value: Any = metrics or {}
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Metric:
    key: str              # its place in metrics.json: "classification_error", or "prior_fit.mmd" (nested)
    label: str            # what a reader calls it
    percent: bool = False   # a fraction, written as a percentage
    digits: int = 4       # decimals written (of the percentage, where percent)

    def read(self, metrics: dict[str, Any] | None) -> float | None:
        """The number in a metrics.json (a dict), or None where it is not there."""
        value = _at(metrics, self.key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def format(self, value: float) -> str:
        if self.percent:
            return f"{100 * value:.{self.digits}f} %"
        return f"{value:,.0f}" if self.digits == 0 else f"{value:.{self.digits}f}"

    def show(self, metrics: dict[str, Any] | None) -> str | None:
        """The number written for a reader ('2.91 %', '0.0108'), or None where it is not there."""
        value = self.read(metrics)
        return None if value is None else self.format(value)


MSE = Metric("reconstruction.mse", "reconstruction MSE / pixel")
MMD = Metric("prior_fit.mmd", "MMD codes vs prior (lower is closer)")
MMD_SAME_PRIOR = Metric("prior_fit.mmd_same_prior", "MMD of the prior against itself (the noise floor)")
CLASSIFICATION_ERROR = Metric("classification_error", "test classification error", percent=True, digits=2)
CLUSTERING_ERROR = Metric("clustering_error", "test clustering error", percent=True, digits=2)
OWN_COMPONENT = Metric("own_component_fraction", "codes in their label's part of the prior", percent=True, digits=1)
CLASS_SWEEP = Metric("class_sweep.accuracy", "class sweep read as the intended digit", percent=True, digits=1)
SAMPLES_SURE = Metric("sample_quality.sure_fraction", "decoded prior samples the digit judge is sure of",
                      percent=True, digits=1)
ALAE_SURE = Metric("alae_judge.sample_sure_fraction", "generated digits the judge is sure of", percent=True, digits=1)
N_TEST = Metric("n_test", "test images", digits=0)



@dataclass(frozen=True)
class Record:
    """A group of numbers that a page reads whole (the prior fit, a class sweep): its key in metrics.json."""

    key: str

    def of(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        """The record in a metrics.json, or {} where it is not there."""
        value = (metrics or {}).get(self.key)
        return value if isinstance(value, dict) else {}


RECONSTRUCTION = Record("reconstruction")    # aae_core.metrics.reconstruction_error: mse, bce
PRIOR_FIT = Record("prior_fit")              # aae_core.metrics.prior_fit: mmd, mmd_same_prior, moments
SAMPLE_QUALITY = Record("sample_quality")    # aae_core.judge.sample_quality: sure_fraction, digit_shares
LATENT_PROBE = Record("latent_probe")        # aae_core.latent_probe: 1-NN and linear-SVM accuracy from the codes
CLASS_SWEEP_RECORD = Record("class_sweep")   # aae_core.judge: accuracy, judge_test_accuracy, n_styles
PRIOR_CLASS_SWEEP = Record("prior_class_sweep")   # the same for prior styles: accuracy, per_class
ALAE_JUDGE = Record("alae_judge")            # ALAE's metrics hook with the judge: recon_same_digit, sample shares
JUDGED = (SAMPLE_QUALITY, CLASS_SWEEP_RECORD, PRIOR_CLASS_SWEEP, ALAE_JUDGE)   # readings of the digit judge
SAMPLE_SHARES = "sample_quality.digit_shares"   # a list, one share per digit (sample_shares reads it)
SCHEMA = (MSE, MMD, MMD_SAME_PRIOR, CLASSIFICATION_ERROR, CLUSTERING_ERROR, OWN_COMPONENT, CLASS_SWEEP, SAMPLES_SURE,
          ALAE_SURE, N_TEST)


class FamilyNumbers(TypedDict, total=False):
    """What a family's one metrics hook (AAEModel.metrics) returns: every number a family measures of itself,
    named once here. The first group goes into metrics.json; the eval_* ones are the per-epoch report's. A record
    a family reads with the digit judge is listed in JUDGED too, so that `evaluate` names the judge on it."""

    classification_error: float            # semi-supervised: test images whose predicted class is wrong
    clustering_error: float                # clustering: images whose cluster's majority label differs from theirs
    own_component_fraction: float          # label-conditioned mixture: codes in their label's component
    component_purity_error: float          # unconditioned mixture: the same error, components as clusters
    roll_distance: dict[str, float]        # swiss roll: codes_median, prior_median, ratio
    latent_reconstruction_mse: float       # ALAE: ||F(z) - E(G(F(z)))||² per dimension
    alae_judge: dict[str, Any]             # ALAE, read by the digit judge: recon_same_digit, sample_sure_fraction...
    eval_error: float                      # per epoch: the classification or clustering error
    eval_latent_mse: float                 # per epoch, ALAE: latent_reconstruction_mse
    eval_sample_ink: float                 # per epoch, ALAE: mean pixel of a few generated digits (collapse shows)


def sample_shares(metrics: dict[str, Any] | None) -> list[float] | None:
    """The share of decoded prior samples the judge reads as each digit 0-9, or None."""
    value = _at(metrics, SAMPLE_SHARES)
    return [float(v) for v in value] if isinstance(value, list) else None
