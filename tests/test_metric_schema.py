"""aae_core.metric_schema: metrics.json's numbers named once, and read by that name everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aae_core import metric_schema as S
from aae_core.recipes import RECIPES
from explorer import family_text

REPO = Path(__file__).resolve().parents[1]


def test_a_metric_reads_nested_numbers_and_says_none_for_anything_else():
    m = {"reconstruction": {"mse": 0.0108}, "classification_error": 0.0291, "n_test": 10000,
         "class_sweep": {"accuracy": True}, "prior_fit": "not a record"}
    assert S.MSE.read(m) == 0.0108 and S.MSE.show(m) == "0.0108"
    assert S.CLASSIFICATION_ERROR.show(m) == "2.91 %" and S.N_TEST.show(m) == "10,000"
    assert S.CLASS_SWEEP.read(m) is None            # a bool is not a number
    assert S.MMD.read(m) is None and S.PRIOR_FIT.of(m) == {}      # a record that is not a dict
    assert S.CLUSTERING_ERROR.show(m) is None and S.MSE.read(None) is None
    assert S.sample_shares({"sample_quality": {"digit_shares": [0.5, 0.5]}}) == [0.5, 0.5]


@pytest.mark.parametrize("name", sorted(p.parent.name for p in (REPO / "checkpoints").glob("*/metrics.json")))
def test_every_shipped_metrics_file_has_the_numbers_its_family_is_shown_by(name):
    """A key the schema spells wrong would read None everywhere: each shipped model's metrics.json must hold
    the reconstruction, prior fit, test-set size and sample quality, and its family's headline where its recipe's
    evaluation writes one."""
    metrics = json.loads((REPO / "checkpoints" / name / "metrics.json").read_text())
    for metric in (S.MSE, S.MMD, S.MMD_SAME_PRIOR, S.N_TEST, S.SAMPLES_SURE):
        assert metric.read(metrics) is not None, (name, metric.key)
    assert S.sample_shares(metrics) is not None and len(S.sample_shares(metrics)) == 10
    headline = family_text.of(metrics["kind"]).headline
    if name in RECIPES and (headline is not S.OWN_COMPONENT or metrics.get("prior") != "gaussian"):
        assert headline.read(metrics) is not None, (name, headline.key)


KEYS = ("classification_error", "clustering_error", "class_sweep", "prior_class_sweep", "prior_fit",
        "own_component_fraction", "sample_quality", "alae_judge", "latent_probe", "n_test")


def test_no_metric_key_is_spelled_outside_the_schema_and_the_families():
    """The app, the benchmarks and the evaluation command read and write metrics.json through the schema."""
    pattern = re.compile(rf"""['"]({"|".join(KEYS)})['"]""")
    files = [*(REPO / "explorer").rglob("*.py"), *(REPO / "benchmarks").glob("*.py"), REPO / "app.py",
             REPO / "aae_core" / "evaluate.py", REPO / "aae_core" / "metrics.py"]
    found = [f"{f.relative_to(REPO)}:{n}: {line.strip()}" for f in files
             for n, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == [], "\n".join(found)
    assert pattern.search('x.get("clustering_error")')       # the scan sees a key
