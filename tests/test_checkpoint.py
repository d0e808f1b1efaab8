"""Checkpoint folders: exact round trips, one clear error per way a folder can be wrong, no pickle
ever executed, atomic saves, zip uploads."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import synthetic_images
from model_cases import CASE_IDS, MODEL_CASES, class_code

import aae_core
from aae_core import checkpoint, fsutil
from aae_core.checkpoint import read_config, save_metrics
from aae_core.config import TrainConfig
from aae_core.errors import (
    AAEError,
    CheckpointConfigError,
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    ShapeMismatchError,
    UnsupportedFormatError,
)
from aae_core.families import build_model, device_of
from aae_core.train_state import load_trainer_state
from aae_core.training import Trainer

N = 8


def images(seed: int = 0) -> torch.Tensor:
    return torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def outputs(model) -> dict[str, torch.Tensor]:
    """Everything a loaded model answers, for comparing two models."""
    cfg = model.config
    x = images()
    with torch.no_grad():
        z = model.encode(x)
        out = {"encode": z, "decode": model.decode(z, class_code(cfg, N))}
        if cfg.classes.predicted:
            out["classify"] = model.classify(x)
    return out


def saved(tmp_path: Path, case: str = "unsupervised_gaussian", name: str = "ckpt") -> Path:
    return aae_core.save(build_model(MODEL_CASES[case], seed=0), tmp_path / name)


def edit_config(path: Path, edit) -> None:
    meta = json.loads((path / "config.json").read_text())
    edit(meta)
    (path / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("case", CASE_IDS)
def test_round_trip_gives_identical_outputs(case, tmp_path):
    model = build_model(MODEL_CASES[case], seed=3).eval()
    path = aae_core.save(model, tmp_path / case, train_config=TrainConfig(seed=3), extra={"note": "hi"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = aae_core.load(path)
    assert loaded.config == model.config
    assert type(loaded) is type(model)
    assert not loaded.training
    expected, got = outputs(model), outputs(loaded)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    sd = loaded.state_dict()
    assert all(torch.equal(v, sd[k]) and sd[k].dtype == torch.float32 for k, v in model.state_dict().items())
    meta = loaded.checkpoint_meta
    assert meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["seed"] == 3 and meta["note"] == "hi" and meta["weights_dtype"] == "float32"
    assert meta["versions"]["aae_core"] == aae_core.__version__


@pytest.mark.parametrize("case", ["semi_supervised", "unsupervised_mixture"])
def test_half_precision_round_trip_is_close_and_smaller(case, tmp_path):
    model = build_model(MODEL_CASES[case], seed=1).eval()
    full = aae_core.save(model, tmp_path / "full")
    half = aae_core.save(model, tmp_path / "half", half=True)
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    loaded = aae_core.load(half)
    assert loaded.checkpoint_meta["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    expected, got = outputs(model), outputs(loaded)
    for key in expected:
        assert torch.allclose(expected[key], got[key], atol=2e-3, rtol=1e-2), key
    # but not bit-identical: the weights really were rounded
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), loaded.parameters(), strict=True))


def test_load_onto_a_device_and_loaded_models_do_not_track_gradients(tmp_path):
    model = aae_core.load(saved(tmp_path), device="cpu")
    assert device_of(model).type == "cpu"
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.encode(images()).requires_grad


def test_saving_over_a_checkpoint_replaces_it_and_leaves_no_temp_folders(tmp_path):
    path = saved(tmp_path, "vae")
    other = build_model(MODEL_CASES["vae"], seed=9)
    aae_core.save(other, path)
    assert torch.equal(outputs(aae_core.load(path))["encode"], outputs(other)["encode"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


KILL_INSIDE_THE_WEIGHTS_WRITE = """
import os, signal, sys, threading, time
import torch
import aae_core
from aae_core import checkpoint
from aae_core.config import ModelConfig

real = checkpoint.st_save_file

def killed_while_writing(tensors, filename, metadata=None):
    folder = os.path.dirname(filename)
    def watch():   # SIGKILL the moment the file being written shows up in the folder
        while True:
            if os.listdir(folder):
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.0001)
    threading.Thread(target=watch, daemon=True).start()
    real({**tensors, "padding": torch.zeros(2**24)}, filename, metadata=metadata)  # 64 MB: time to be killed
    time.sleep(5)

model = aae_core.build_model(ModelConfig(hidden_dim=16, disc_hidden_dim=16))
checkpoint.st_save_file = killed_while_writing
aae_core.save(model, sys.argv[1])
"""


def test_a_later_save_removes_what_a_kill_inside_the_weights_write_left(tmp_path):
    """Issue 19 #18: safetensors writes through its own hidden temporary file (.tmpXXXXXX) and renames it;
    a kill inside that write left a temporary folder holding it, which later saves did not remove."""
    path = saved(tmp_path, "vae")
    proc = subprocess.run([sys.executable, "-c", KILL_INSIDE_THE_WEIGHTS_WRITE, str(path)],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    assert proc.returncode == -9, proc.stderr
    [left] = [p for p in tmp_path.iterdir() if p.name != "ckpt"]
    assert left.name.startswith(".ckpt.tmp-") and any(p.name.startswith(".tmp") for p in left.iterdir())
    user_file = tmp_path / ".ckpt.tmp-notours"          # not of the program's own pattern: kept
    user_file.mkdir()
    aae_core.save(build_model(MODEL_CASES["vae"], seed=9), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.tmp-notours", "ckpt"]
    aae_core.load(path)


def test_error_classes_share_one_base():
    for cls in (CheckpointNotFoundError, CorruptCheckpointError, CheckpointConfigError, UnsupportedFormatError,
                ShapeMismatchError):
        assert issubclass(cls, CheckpointError) and issubclass(cls, AAEError)
    assert len({CheckpointNotFoundError, CorruptCheckpointError, CheckpointConfigError, UnsupportedFormatError,
                ShapeMismatchError}) == 5


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint folder at .*nowhere"):
        aae_core.load(tmp_path / "nowhere")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(CheckpointNotFoundError):
        aae_core.load(tmp_path / "a_file")


def test_missing_config(tmp_path):
    path = saved(tmp_path)
    (path / "config.json").unlink()
    with pytest.raises(CheckpointNotFoundError, match="has no config.json"):
        aae_core.load(path)


def test_missing_weights(tmp_path):
    path = saved(tmp_path)
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointNotFoundError, match="has no model.safetensors"):
        aae_core.load(path)


@pytest.mark.parametrize("damage", ["truncated_half", "truncated_header", "garbage", "empty", "flipped_header"])
def test_corrupt_weights(tmp_path, damage):
    path = saved(tmp_path)
    file = path / "model.safetensors"
    blob = file.read_bytes()
    damaged = {
        "truncated_half": blob[: len(blob) // 2],
        "truncated_header": blob[:20],
        "garbage": os.urandom(4096),
        "empty": b"",
        "flipped_header": blob[:8] + b"#" + blob[9:],
    }[damage]
    file.write_bytes(damaged)
    with pytest.raises(CorruptCheckpointError, match="truncated or not a safetensors file"):
        aae_core.load(path)


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe", "[1, 2, 3]", '"a string"'])
def test_malformed_config_json(tmp_path, text):
    path = saved(tmp_path)
    (path / "config.json").write_text(text, encoding="latin-1")
    with pytest.raises(CheckpointConfigError, match="config.json"):
        aae_core.load(path)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["model"].update(kind="gan"), "kind must be one of"),
    (lambda m: m["model"].update(prior="mixture", latent_dim=3), "latent_dim must be 2"),
    (lambda m: m["model"].update(wings=2), "unknown ModelConfig fields: wings"),
    (lambda m: m.pop("model"), "must be a JSON object"),
    (lambda m: m.update(model=[1, 2]), "must be a JSON object"),
])
def test_config_describing_an_invalid_model(tmp_path, edit, match):
    path = saved(tmp_path)
    edit_config(path, edit)
    with pytest.raises(CheckpointConfigError, match=match):
        aae_core.load(path)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_unknown_format_version(tmp_path, version):
    path = saved(tmp_path)
    edit_config(path, lambda m: m.update(format_version=version))
    with pytest.raises(UnsupportedFormatError, match=f"format_version {version!r}"):
        aae_core.load(path)
    edit_config(path, lambda m: m.pop("format_version"))
    with pytest.raises(UnsupportedFormatError, match="format_version None"):
        aae_core.load(path)


@pytest.mark.parametrize("change,match", [
    (dict(latent_dim=5), r"encoder.4.weight: file \[2, 32\] vs config \[5, 32\]"),
    (dict(hidden_dim=48), r"file \[32, 784\] vs config \[48, 784\]"),
    (dict(n_hidden_layers=3), "missing"),
    (dict(kind="vae"), "encoder.4.weight"),
    (dict(prior="mixture", label_conditioned=True, n_labels=100), "discriminator.net.0.weight"),
])
def test_config_that_does_not_fit_the_weights(tmp_path, change, match):
    path = saved(tmp_path)
    edit_config(path, lambda m: m["model"].update(change))
    with pytest.raises(ShapeMismatchError, match=match):
        aae_core.load(path)


def test_weights_with_extra_tensors_do_not_fit(tmp_path):
    from safetensors.torch import save_file

    path = saved(tmp_path)
    weights = dict(build_model(MODEL_CASES["unsupervised_gaussian"]).state_dict())
    weights["backdoor.weight"] = torch.zeros(3)
    save_file(weights, str(path / "model.safetensors"))
    with pytest.raises(ShapeMismatchError, match="unexpected backdoor.weight"):
        aae_core.load(path)


class _WritesMarker:
    """Unpickling this calls open(marker, 'w'): creating the file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_named_model_safetensors_is_never_executed(tmp_path):
    path = saved(tmp_path)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"encoder.0.weight": _WritesMarker(marker)})
    # Sanity: this payload does run code when unpickled the ordinary way.
    pickle.loads(payload)["encoder.0.weight"].close()
    assert marker.exists()
    marker.unlink()

    (path / "model.safetensors").write_bytes(payload)
    with pytest.raises(CorruptCheckpointError):
        aae_core.load(path)
    assert not marker.exists()

    # torch.save's zip-of-pickles format, the classic .pt/.bin, is refused the same way.
    buf = io.BytesIO()
    torch.save({"encoder.0.weight": _WritesMarker(marker)}, buf)
    assert not marker.exists()
    (path / "model.safetensors").write_bytes(buf.getvalue())
    with pytest.raises(CorruptCheckpointError):
        aae_core.load(path)
    with pytest.raises(CorruptCheckpointError):
        aae_core.load_files({"config.json": (path / "config.json").read_bytes(),
                             "model.safetensors": buf.getvalue()})
    assert not marker.exists()


def test_save_is_atomic_when_writing_fails_midway(tmp_path, monkeypatch):
    path = saved(tmp_path, "semi_supervised")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    real_save = checkpoint.st_save_file

    def half_then_fail(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        blob = Path(filename).read_bytes()
        Path(filename).write_bytes(blob[: len(blob) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "st_save_file", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        aae_core.save(build_model(MODEL_CASES["semi_supervised"], seed=5), path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    # A failure on a first save leaves nothing at all.
    with pytest.raises(OSError):
        aae_core.save(build_model(MODEL_CASES["vae"]), tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    monkeypatch.undo()
    assert torch.equal(outputs(aae_core.load(path))["classify"],
                       outputs(build_model(MODEL_CASES["semi_supervised"], seed=0))["classify"])


def _zip(folder: Path, prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, prefix + p.name)
    return buf.getvalue()


@pytest.mark.parametrize("prefix", ["", "my_run/"])
def test_load_zip_of_a_checkpoint(tmp_path, prefix):
    path = saved(tmp_path, "clustering")
    save_metrics(path, {"clustering_error": 0.5})
    model = aae_core.load_zip(_zip(path, prefix))
    expected = outputs(aae_core.load(path))
    for key, value in outputs(model).items():
        assert torch.equal(value, expected[key]), key


def test_load_zip_refusals(tmp_path):
    with pytest.raises(CorruptCheckpointError, match="not a zip archive"):
        aae_core.load_zip(b"this is not a zip file at all")
    path = saved(tmp_path)
    with pytest.raises(CorruptCheckpointError, match="not a zip archive"):
        aae_core.load_zip((path / "model.safetensors").read_bytes())
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointNotFoundError, match="model.safetensors"):
        aae_core.load_zip(_zip(path))
    # files nested deeper than one folder are not picked up
    full = saved(tmp_path, name="full")
    with pytest.raises(CheckpointNotFoundError):
        aae_core.load_zip(_zip(full, "a/b/"))


def test_load_files(tmp_path):
    path = saved(tmp_path, "supervised")
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    model = aae_core.load_files({**files, "evil.py": b"import os"})
    assert torch.equal(outputs(model)["decode"], outputs(aae_core.load(path))["decode"])
    with pytest.raises(CheckpointNotFoundError, match="model.safetensors"):
        aae_core.load_files({"config.json": files["config.json"]})


def test_metrics_json(tmp_path):
    path = saved(tmp_path)
    assert aae_core.load_metrics(path) is None
    save_metrics(path, {"reconstruction": {"mse": 0.02}})
    assert aae_core.load_metrics(path) == {"reconstruction": {"mse": 0.02}}
    (path / "metrics.json").write_text("{oops")
    assert aae_core.load_metrics(path) is None


def test_trainer_state_round_trip(tmp_path):
    config = MODEL_CASES["semi_supervised"]
    train = synthetic_images(100)
    labelled = aae_core.label_split(train.labels, 20)
    tc = TrainConfig(epochs=1, batch_size=20, labelled_batch_size=10, eval_size=0)
    trainer = Trainer(build_model(config, seed=0), tc, train, labelled=labelled, device="cpu")
    trainer.fit()
    path = aae_core.save(trainer.model, tmp_path / "run", trainer=trainer)
    assert read_config(path)["progress"] == {"epoch": 1, "step": 5}

    other = Trainer(aae_core.load(path).train(), tc, train, labelled=labelled, device="cpu")
    load_trainer_state(path, other)
    assert (other.state.epoch, other.state.step) == (1, 5)
    assert len(other.state.history) == 1
    assert torch.equal(other.generator.get_state(), trainer.generator.get_state())
    for phase, opt in trainer.optimizers.items():
        a, b = opt.state_dict(), other.optimizers[phase].state_dict()
        assert a["param_groups"] == b["param_groups"]
        for idx, per_param in a["state"].items():
            for key, value in per_param.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][idx][key])), (phase, key)

    shutil.copytree(path, tmp_path / "no_opt")
    (tmp_path / "no_opt" / "optimizer.safetensors").unlink()
    with pytest.raises(CheckpointNotFoundError, match="optimizer.safetensors"):
        load_trainer_state(tmp_path / "no_opt", other)


@pytest.mark.skipif(sys.platform != "linux", reason="atomic folder swap is Linux-only (renameat2)")
def test_the_checkpoint_folder_is_never_missing_while_it_is_replaced(tmp_path, monkeypatch):
    model = build_model(MODEL_CASES["unsupervised_gaussian"], seed=0)
    path = aae_core.save(model, tmp_path / "ckpt")
    seen, real_replace = [], os.replace

    def replace(src, dst):                     # every rename save() makes: is the checkpoint still there?
        real_replace(src, dst)
        seen.append((path / "config.json").exists())

    monkeypatch.setattr(fsutil.os, "replace", replace)
    aae_core.save(build_model(MODEL_CASES["unsupervised_gaussian"], seed=1), path)
    assert all(seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert torch.equal(aae_core.load(path).encoder[0].weight,
                       build_model(MODEL_CASES["unsupervised_gaussian"], seed=1).encoder[0].weight)


def test_replace_folder_moves_the_new_folder_in_and_drops_the_old(tmp_path):
    from aae_core.fsutil import replace_folder

    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "f").write_text("new")
    replace_folder(tmp_path / "new", tmp_path / "dst")          # nothing there yet
    assert (tmp_path / "dst" / "f").read_text() == "new"
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "f").write_text("newer")
    # only a folder the caller recognises as its own is replaced (checkpoints by default)
    replace_folder(tmp_path / "newer", tmp_path / "dst", is_ours=lambda p: (p / "f").is_file())
    assert (tmp_path / "dst" / "f").read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst"]
