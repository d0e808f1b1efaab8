"""Which checkpoints the app offers (explorer.catalog)."""

from __future__ import annotations

import hashlib
import os

import pytest
from conftest import tiny_config

import aae_core
from aae_core import checkpoint
from explorer import catalog


def _save(folder, seed=0, **overrides):
    return aae_core.save(aae_core.build_model(tiny_config(**overrides), seed=seed), folder)


def test_shipped_models_come_first_then_runs_newest_first_and_broken_folders_are_skipped(tmp_path):
    shipped, runs = tmp_path / "checkpoints", tmp_path / "runs"
    _save(shipped / "b_model")
    _save(shipped / "a_model", kind="supervised")
    old = _save(runs / "old")
    new = _save(runs / "group" / "new", kind="vae", latent_dim=3)          # two levels down
    os.utime(old / "model.safetensors", ns=(1, 1))
    (runs / "broken").mkdir()
    (runs / "broken" / "config.json").write_text("{not json")
    (runs / "broken" / "model.safetensors").write_bytes(b"")
    (runs / ".hidden-tmp").mkdir()
    infos = catalog.list_checkpoints(shipped, runs)
    assert [(i.source, i.name) for i in infos] == [("shipped", "a_model"), ("shipped", "b_model"),
                                                   ("run", "group/new"), ("run", "old")]
    assert infos[0].config.kind == "supervised" and infos[2].config == tiny_config("vae", latent_dim=3)
    assert infos[2].path == new.resolve() and infos[2].ref == str(new.resolve())


def test_folders_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AAE_CHECKPOINTS_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("AAE_RUNS_DIR", str(tmp_path / "r"))
    _save(tmp_path / "c" / "m")
    assert catalog.checkpoints_dir() == tmp_path / "c" and catalog.runs_dir() == tmp_path / "r"
    assert [i.name for i in catalog.list_checkpoints()] == ["m"]
    monkeypatch.delenv("AAE_RUNS_DIR")
    assert catalog.runs_dir() == catalog.REPO_ROOT / "runs"


def test_metrics_and_the_app_user_are_read_with_the_config(tmp_path):
    folder = aae_core.save(aae_core.build_model(tiny_config()), tmp_path / "m", extra={"app_user": "u1"})
    checkpoint.save_metrics(folder, {"reconstruction": {"mse": 0.0123}, "classification_error": 0.05,
                                     "n_test": 10000})
    info = catalog.read_info(folder, "run")
    assert info.owner == "u1" and info.metrics["n_test"] == 10000
    assert catalog.summarize_metrics(info.metrics) == {"reconstruction MSE / pixel": "0.0123",
                                                       "test classification error": "5.00 %",
                                                       "test images": "10,000"}


def test_an_invalid_model_description_is_a_checkpoint_error(tmp_path):
    folder = _save(tmp_path / "m")
    (folder / "config.json").write_text('{"format_version": 1, "model": {"kind": "gan"}}')
    info = catalog.read_info(folder, "run")       # listing reads JSON only; the model is checked on use
    assert info.model == {"kind": "gan"} and info.latent_dim == 0
    with pytest.raises(aae_core.CheckpointConfigError, match="kind must be one of"):
        _ = info.config


def test_the_fingerprint_follows_the_weights(tmp_path):
    folder = _save(tmp_path / "m")
    first = catalog.weights_fingerprint(folder)
    assert first == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert catalog.weights_fingerprint(folder / "model.safetensors") == first
    _save(folder, seed=1)
    assert catalog.weights_fingerprint(folder) != first


def test_descriptions_and_file_names():
    assert catalog.describe_config(tiny_config("semi_supervised", latent_dim=10)) == \
        "semi-supervised AAE, 10-D style + 10 classes, 100 labels"
    assert catalog.describe_config(tiny_config(prior="swiss_roll", label_conditioned=True, n_labels=60000)) == \
        "unsupervised AAE, 2-D swiss roll prior, label-conditioned, 60,000 labels"
    assert (catalog.CONFIG_FILE, catalog.WEIGHTS_FILE, catalog.METRICS_FILE) == \
        (checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE, checkpoint.METRICS_FILE)


def test_a_listing_reads_a_folders_json_again_only_when_one_of_its_files_changed(tmp_path, monkeypatch):
    """Every whole rerun lists the models: unchanged folders are not parsed again, and a rewritten config.json,
    metrics.json or weights file (atomic writes: a new file) is read afresh."""
    runs = tmp_path / "runs"
    folder = _save(runs / "a")
    reads = []
    real = catalog.read_meta
    monkeypatch.setattr(catalog, "read_meta", lambda path: reads.append(path) or real(path))
    first = catalog.list_checkpoints(tmp_path / "none", runs)
    again = catalog.list_checkpoints(tmp_path / "none", runs)
    assert len(reads) == 1 and again[0] is first[0] and first[0].metrics is None
    checkpoint.save_metrics(folder, {"clustering_error": 0.25})                     # evaluated since
    [info] = catalog.list_checkpoints(tmp_path / "none", runs)
    assert len(reads) == 2 and info.metrics == {"clustering_error": 0.25}
    _save(folder, kind="vae")                                                        # retrained in place
    [info] = catalog.list_checkpoints(tmp_path / "none", runs)
    assert len(reads) == 3 and info.config.kind == "vae"
    assert catalog.read_info(folder, "run", "a") is info and len(reads) == 3
