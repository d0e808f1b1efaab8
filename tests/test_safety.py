"""Reliability: the command lines and save() never destroy what they did not write, refuse unusable
outputs and mismatched resumes before any training, report disk-full and unwritable outputs in one
line, and load() refuses oversized or non-finite checkpoints from their headers, before allocating."""

from __future__ import annotations

import errno
import json
import shutil
import signal
from pathlib import Path

import pytest
import torch
from model_cases import MODEL_CASES
from safetensors import SafetensorError
from safetensors.torch import save_file
from test_cli import TINY_ARGS, assert_one_line_error, run

import aae_core
from aae_core import checkpoint, errors, fsutil, run_setup, tensor_files
from aae_core import evaluate as evaluate_cli
from aae_core import export as export_cli
from aae_core import judge as judge_mod
from aae_core import train as train_cli
from aae_core.config import ModelConfig, TrainConfig
from aae_core.families import build_model


class DataLoaded(Exception):
    """Raised by a stand-in load_dataset: the command got past its checks to loading data."""


@pytest.fixture
def no_data(monkeypatch):
    """Any data loading raises DataLoaded, so a test can tell 'refused before loading' from 'went on'."""
    def boom(*args, **kwargs):
        raise DataLoaded
    monkeypatch.setattr(run_setup, "load_dataset", boom)
    monkeypatch.setattr(judge_mod, "load_dataset", boom)
    monkeypatch.setattr(evaluate_cli, "load_dataset", boom)


def train_main(out, *args: str, data_dir: str = "/nonexistent") -> None:
    train_cli.main(["--out", str(out), "--data-dir", data_dir, *TINY_ARGS, *args])


def refused(capsys, fn, match: str, prog: str = "aae_core.train") -> str:
    with pytest.raises(SystemExit) as info:
        fn()
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err
    assert lines[-1].startswith(f"python -m {prog}: error: ") and match in lines[-1], lines
    assert sum("error:" in line for line in lines) == 1, lines
    return lines[-1]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def saved(tmp_path: Path, case: str = "unsupervised_gaussian", name: str = "ckpt") -> Path:
    return aae_core.save(build_model(MODEL_CASES[case], seed=0), tmp_path / name)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fake_mnist_dir) -> Path:
    """A resumable one-epoch semi-supervised run (optimizer state included), trained in-process."""
    out = tmp_path_factory.mktemp("safety") / "ssl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(signal, "signal", lambda *a: None)
        assert train_cli.main(["--kind", "semi_supervised", "--latent-dim", "3", "--out", str(out),
                               "--data-dir", fake_mnist_dir, *TINY_ARGS]) == 0
    return out


@pytest.fixture
def run_copy(run_dir, tmp_path) -> Path:
    out = tmp_path / "ssl"
    shutil.copytree(run_dir, out)
    return out


# --- 1. never replace or delete what the program did not write -------------------------------------

def test_train_refuses_an_out_folder_holding_other_files(tmp_path, no_data, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my thesis")
    for extra in ([], ["--overwrite"]):
        refused(capsys, lambda extra=extra: train_main(out, *extra), "not a checkpoint")
    assert snapshot(out) == {"notes.txt": b"my thesis"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_train_cli_process_refuses_a_folder_of_other_files(tmp_path, fake_mnist_dir):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my thesis")
    proc = run("aae_core.train", "--out", str(out), "--data-dir", fake_mnist_dir, *TINY_ARGS, data_dir=fake_mnist_dir)
    assert_one_line_error(proc, "aae_core.train", "is not a checkpoint folder (it holds notes.txt)")
    assert snapshot(out) == {"notes.txt": b"my thesis"}


def test_train_refuses_an_out_that_is_a_file(tmp_path, no_data, capsys):
    out = tmp_path / "file.txt"
    out.write_text("keep me")
    refused(capsys, lambda: train_main(out), "not a checkpoint")
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_train_accepts_a_missing_or_empty_out(tmp_path, no_data):
    with pytest.raises(DataLoaded):
        train_main(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataLoaded):
        train_main(tmp_path / "empty")


def test_train_over_an_existing_checkpoint_needs_resume_or_overwrite(tmp_path, no_data, capsys):
    path = saved(tmp_path)
    before = snapshot(path)
    line = refused(capsys, lambda: train_main(path), "already holds a checkpoint")
    assert "--resume" in line and "--overwrite" in line
    assert snapshot(path) == before
    with pytest.raises(DataLoaded):
        train_main(path, "--overwrite")
    refused(capsys, lambda: train_main(path, "--overwrite", "--resume"), "not allowed with")


def test_overwrite_saves_the_new_run_even_at_the_old_checkpoint_step(run_copy, fake_mnist_dir, monkeypatch):
    # The old run ended at step 11; a new one-epoch run also ends at step 11 and, with --save-every 2, only
    # saves at the end: that save must not be skipped as "already saved".
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    assert train_cli.main(["--out", str(run_copy), "--overwrite", "--kind", "semi_supervised", "--latent-dim", "3",
                           "--data-dir", fake_mnist_dir, *TINY_ARGS, "--seed", "5", "--save-every", "2"]) == 0
    meta = checkpoint.read_config(run_copy)
    assert meta["seed"] == 5 and meta["progress"] == {"epoch": 1, "step": 11}   # 550 images: 50 held out


def test_save_refuses_to_replace_what_is_not_a_checkpoint(tmp_path):
    model = build_model(MODEL_CASES["vae"], seed=0)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    file = tmp_path / "file.txt"
    file.write_text("y")
    ckpt_plus = saved(tmp_path, name="ckpt_plus")
    (ckpt_plus / "notes.txt").write_text("z")
    link = tmp_path / "link"
    link.symlink_to(saved(tmp_path, name="target"))
    before = snapshot(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    for path in (folder, file, ckpt_plus, link):
        with pytest.raises(errors.OutputPathError, match="not a checkpoint") as info:
            aae_core.save(model, path)
        assert isinstance(info.value, errors.AAEError)
        assert str(path) in str(info.value)
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_replace_folder_refuses_a_folder_that_is_not_a_checkpoint(tmp_path):
    from aae_core.fsutil import replace_folder

    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "config.json").write_text("{}")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "f").write_text("user data")
    with pytest.raises(errors.OutputPathError):
        replace_folder(tmp_path / "new", tmp_path / "dst")
    assert (tmp_path / "dst" / "f").read_text() == "user data"
    assert (tmp_path / "new" / "config.json").is_file()


def test_export_never_replaces_other_files_and_needs_overwrite_for_a_checkpoint(tmp_path, capsys):
    src = saved(tmp_path, name="src")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    for extra in ([], ["--overwrite"]):
        refused(capsys, lambda extra=extra: export_cli.main([str(src), str(mine), *extra]), "not a checkpoint",
                prog="aae_core.export")
    assert snapshot(mine) == {"notes.txt": b"x"}

    dst = saved(tmp_path, "vae", name="dst")
    before = snapshot(dst)
    refused(capsys, lambda: export_cli.main([str(src), str(dst)]), "--overwrite", prog="aae_core.export")
    assert snapshot(dst) == before
    assert export_cli.main([str(src), str(dst), "--overwrite"]) == 0
    assert aae_core.load(dst).config == aae_core.load(src).config
    assert export_cli.main([str(src), str(tmp_path / "fresh")]) == 0


def test_judge_never_replaces_a_folder_that_is_not_a_judge(tmp_path, no_data, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    refused(capsys, lambda: judge_mod.main(["--out", str(out)]), "not a judge", prog="aae_core.judge")
    assert snapshot(out) == {"notes.txt": b"x"}
    refused(capsys, lambda: judge_mod.main(["--out", str(saved(tmp_path))]), "not a judge", prog="aae_core.judge")
    # a missing folder, or an earlier judge, goes on to training
    with pytest.raises(DataLoaded):
        judge_mod.main(["--out", str(tmp_path / "j")])
    judge_mod.save_judge(judge_mod.DigitJudge(), tmp_path / "j", {"note": "old"})
    with pytest.raises(DataLoaded):
        judge_mod.main(["--out", str(tmp_path / "j")])


def test_leftovers_of_a_killed_save_are_cleaned_and_nothing_else(tmp_path):
    path = saved(tmp_path)
    ours = [tmp_path / ".ckpt.tmp-0123abcd", tmp_path / ".ckpt.old-deadbeef"]
    for folder in ours:
        shutil.copytree(path, folder)
    (ours[0] / "config.json").unlink()                        # a half-written one
    decoys = {
        ".ckpt.tmp-cafebabe": "file",                         # a file, e.g. a user's file hidden by the old bug
        ".ckpt.tmp-12345678": "folder with notes",            # not only checkpoint files
        ".ckpt.tmp-notours": "folder",                        # not the pattern
        ".other.tmp-0123abcd": "folder",                      # another checkpoint's
        ".ckpt.old-0123abcd.bak": "folder",
    }
    for name, what in decoys.items():
        if what == "file":
            (tmp_path / name).write_text("user data")
        else:
            shutil.copytree(path, tmp_path / name)
            if what == "folder with notes":
                (tmp_path / name / "notes.txt").write_text("x")
    aae_core.save(build_model(MODEL_CASES["unsupervised_gaussian"], seed=1), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt", *decoys])


# --- 2. --resume -----------------------------------------------------------------------------------

def test_resume_of_a_missing_or_empty_folder_exits_2(tmp_path, no_data, capsys):
    refused(capsys, lambda: train_main(tmp_path / "nope", "--resume"), "no checkpoint")
    assert not (tmp_path / "nope").exists()
    (tmp_path / "empty").mkdir()
    refused(capsys, lambda: train_main(tmp_path / "empty", "--resume"), "no checkpoint")


@pytest.mark.parametrize("args,named", [
    (["--kind", "vae"], "--kind vae (saved: semi_supervised)"),
    (["--kind", "semi_supervised", "--hidden", "32"], "--hidden 32 (saved: 16)"),
    (["--kind", "semi_supervised", "--labels", "200"], "--labels 200 (saved: 100)"),
    (["--kind", "semi_supervised", "--lr-gen", "0.001"], "--lr-gen 0.001 (saved: 0.0005)"),
    (["--kind", "semi_supervised", "--seed", "3", "--latent-dim", "4"], "--latent-dim 4 (saved: 3)"),
])
def test_resume_with_flags_that_differ_from_the_checkpoint_exits_2(run_copy, args, named, no_data, capsys):
    before = snapshot(run_copy)
    line = refused(capsys, lambda: train_cli.main(["--out", str(run_copy), "--resume", *args]), "differ")
    assert named in line
    assert snapshot(run_copy) == before


def test_resume_with_epochs_below_the_saved_run_exits_2(run_copy, no_data, capsys):
    meta = json.loads((run_copy / "config.json").read_text())
    meta["training"]["epochs"] = 5
    (run_copy / "config.json").write_text(json.dumps(meta))
    refused(capsys, lambda: train_cli.main(["--out", str(run_copy), "--resume", "--epochs", "3"]), "--epochs")


def test_resume_with_the_saved_flags_or_none_goes_on(run_copy, no_data):
    for args in ([], ["--kind", "semi_supervised", "--latent-dim", "3", "--hidden", "16", "--labels", "100",
                      "--device", "cpu", "--epochs", "4"]):
        with pytest.raises(DataLoaded):
            train_cli.main(["--out", str(run_copy), "--resume", *args])


def test_resume_with_out_alone_continues_the_saved_config(run_copy, fake_mnist_dir):
    proc = run("aae_core.train", "--out", str(run_copy), "--resume", "--epochs", "2", "--device", "cpu",
               "--data-dir", fake_mnist_dir, data_dir=fake_mnist_dir)
    assert proc.returncode == 0, proc.stderr
    meta = aae_core.load(run_copy).checkpoint_meta
    assert meta["progress"] == {"epoch": 2, "step": 22}   # 550 images: 50 held out
    assert aae_core.load(run_copy).config.kind == "semi_supervised"
    assert meta["training"]["batch_size"] == 50


def test_resume_of_an_exported_copy_exits_2(run_dir, tmp_path, no_data, capsys):
    export = tmp_path / "export"
    export_cli.export_checkpoint(run_dir, export)
    before = snapshot(export)
    refused(capsys, lambda: train_cli.main(["--out", str(export), "--resume"]), "exported")
    assert snapshot(export) == before


# --- 3. an --out nothing can be written to ---------------------------------------------------------

@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_train_into_an_unwritable_place_exits_2_before_training(where, tmp_path, no_data, capsys):
    if where == "under_a_file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "run"
    else:
        out = Path("/proc/aae_explorer_test/run")
    refused(capsys, lambda: train_main(out), "cannot write")
    assert (where == "proc") or (tmp_path / "afile").read_text() == "x"


def test_check_writable_asks_the_system_and_probes(tmp_path, monkeypatch):
    fsutil.check_writable(tmp_path / "run")          # fine, and leaves nothing behind
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(fsutil.os, "access", lambda *a, **k: False)
    with pytest.raises(errors.OutputPathError, match="cannot write"):
        fsutil.check_writable(tmp_path / "run")
    monkeypatch.undo()
    real_mkstemp = fsutil.tempfile.mkstemp

    def read_only(*args, **kwargs):
        if kwargs.get("dir") == str(tmp_path) or (args and args[0] == str(tmp_path)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", read_only)
    with pytest.raises(errors.OutputPathError, match="Read-only file system"):
        fsutil.check_writable(tmp_path / "run")


# --- 4. disk full ----------------------------------------------------------------------------------

def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _disk_full_in_safetensors(*args, **kwargs):
    """What safetensors' save_file raises on a full disk: not an OSError (seen with RLIMIT_FSIZE: 'I/O error:
    File too large (os error 27)'; issue 19 #8)."""
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


FULL_DISKS = pytest.mark.parametrize("full_disk", [_disk_full, _disk_full_in_safetensors],
                                     ids=["OSError", "SafetensorError"])


@FULL_DISKS
def test_save_on_a_full_disk_raises_one_clear_project_error(tmp_path, monkeypatch, full_disk):
    path = saved(tmp_path)
    before = snapshot(path)
    monkeypatch.setattr(checkpoint, "st_save_file", full_disk)
    with pytest.raises(errors.CheckpointSaveError) as info:
        aae_core.save(build_model(MODEL_CASES["unsupervised_gaussian"], seed=1), path)
    message = str(info.value)
    assert isinstance(info.value, errors.AAEError) and isinstance(info.value, OSError)
    assert "No space left on device" in message and "intact" in message and "MB free" in message
    assert info.value.errno == errno.ENOSPC
    assert snapshot(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


@FULL_DISKS
def test_train_on_a_full_disk_exits_1_with_one_line_and_keeps_the_checkpoint(run_copy, fake_mnist_dir,
                                                                          monkeypatch, capsys, full_disk):
    before = snapshot(run_copy)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    monkeypatch.setattr(checkpoint, "st_save_file", full_disk)
    code = train_cli.main(["--out", str(run_copy), "--resume", "--epochs", "2", "--data-dir", fake_mnist_dir,
                           "--device", "cpu"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("python -m aae_core.train: error: could not save"), last
    assert "No space left on device" in last and "intact" in last and "MB free" in last
    assert snapshot(run_copy) == before
    assert sorted(p.name for p in run_copy.parent.iterdir()) == ["ssl"]


def test_evaluate_prints_the_metrics_when_metrics_json_cannot_be_written(run_dir, fake_mnist_dir, monkeypatch,
                                                                          capsys):
    monkeypatch.setattr(checkpoint, "atomic_write_text", _disk_full)
    code = evaluate_cli.main([str(run_dir), "--data-dir", fake_mnist_dir, "--device", "cpu", "--n-test", "20"])
    assert code == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_test"] == 20
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err and len([ln for ln in lines if "error:" in ln]) == 1
    assert lines[-1].startswith("python -m aae_core.evaluate: error: could not write")
    assert "metrics.json" in lines[-1] and "No space left on device" in lines[-1]


# --- 5. label budget -------------------------------------------------------------------------------

def test_a_label_budget_above_the_training_set_is_an_error(tmp_path, no_data, capsys):
    with pytest.raises(ValueError, match="up to 60000"):
        run_setup.resolve_label_budget("semi_supervised", 70000, False, 60000)
    assert run_setup.resolve_label_budget("semi_supervised", 60000, False, 60000) == 60000
    assert run_setup.resolve_label_budget("supervised", run_setup.ALL_LABELS, False, 60000) == 60000
    refused(capsys, lambda: train_main(tmp_path / "run", "--kind", "semi_supervised", "--labels", "70000"),
            "positive multiple of 10 up to 60000")


# --- 6. oversized, mismatched or non-finite checkpoints --------------------------------------------

@pytest.mark.parametrize("cls,field,value,largest,match", [
    (ModelConfig, "latent_dim", 1025, 1024, "latent_dim must be <= 1024"),
    (ModelConfig, "hidden_dim", 8193, 8192, "hidden_dim must be <= 8192"),
    (ModelConfig, "disc_hidden_dim", 10**8, 8192, "disc_hidden_dim must be <= 8192"),
    (ModelConfig, "n_hidden_layers", 17, 16, "n_hidden_layers must be <= 16"),
    (ModelConfig, "n_classes", 1001, 1000, "n_classes must be <= 1000"),
    (TrainConfig, "batch_size", 10**6, 60000, "batch_size must be <="),
    (TrainConfig, "labelled_batch_size", 10**6, 60000, "labelled_batch_size must be <="),
])
def test_config_sizes_are_bounded(cls, field, value, largest, match):
    with pytest.raises(ValueError, match=match):
        cls(**{field: value})
    assert getattr(cls(**{field: largest}), field) == largest


def _never_build(monkeypatch):
    def fail(config, **kwargs):
        raise AssertionError(f"built a model for {config}")
    monkeypatch.setattr(checkpoint, "build_model", fail)


@pytest.mark.parametrize("change,match", [
    (dict(latent_dim=10**7), "latent_dim must be <= 1024"),
    (dict(hidden_dim=10**8), "hidden_dim must be <= 8192"),
])
def test_a_huge_size_in_config_json_is_refused_before_building(tmp_path, monkeypatch, change, match):
    path = saved(tmp_path)
    meta = json.loads((path / "config.json").read_text())
    meta["model"].update(change)
    (path / "config.json").write_text(json.dumps(meta))
    _never_build(monkeypatch)
    with pytest.raises(errors.CheckpointConfigError, match=match):
        aae_core.load(path)


def test_shapes_are_checked_from_the_header_before_any_real_model_is_built(tmp_path, monkeypatch):
    path = saved(tmp_path)
    meta = json.loads((path / "config.json").read_text())
    meta["model"].update(hidden_dim=8192, disc_hidden_dim=8192, n_hidden_layers=16)   # ~13 GB of float32
    (path / "config.json").write_text(json.dumps(meta))
    real_build, devices = checkpoint.build_model, []

    def watched(config, **kwargs):
        devices.append(torch.get_default_device().type)
        if devices[-1] != "meta":
            raise AssertionError("a real model was built for a config the weights do not fit")
        return real_build(config, **kwargs)

    monkeypatch.setattr(checkpoint, "build_model", watched)
    with pytest.raises(errors.ShapeMismatchError, match=r"file \[32, 784\] vs config \[8192, 784\]"):
        aae_core.load(path)
    assert devices == ["meta"]


def test_a_weights_header_larger_than_the_cap_is_refused(tmp_path):
    path = saved(tmp_path)
    big = tensor_files.MAX_HEADER_BYTES + 1
    (path / "model.safetensors").write_bytes(big.to_bytes(8, "little") + b"{" + b" " * (big - 2) + b"}")
    with pytest.raises(errors.CorruptCheckpointError, match="header"):
        aae_core.load(path)
    (path / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    with pytest.raises(errors.CorruptCheckpointError, match="truncated or not a safetensors file"):
        aae_core.load(path)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KB on Linux


@pytest.mark.parametrize("what", ["model", "optimizer"])
def test_a_huge_weights_file_with_a_good_header_is_refused_without_reading_it(run_copy, what):
    """Issue 19 #15: a 2 GB file whose header fits the config was read whole (+1.9 GB) before it was refused.
    The file here is sparse (truncate): 2 GB long, nothing written."""
    file = run_copy / f"{what}.safetensors"
    with open(file, "r+b") as fh:
        fh.truncate(2 * 2**30)
    before = _peak_rss_mb()
    with pytest.raises(errors.CorruptCheckpointError, match=r"2048\.0 MB.*header describes"):
        if what == "model":
            aae_core.load(run_copy)
        else:
            tensor_files.read_safetensors(file)
    assert _peak_rss_mb() - before < 200


def test_a_header_whose_offsets_do_not_fit_its_shapes_is_refused(tmp_path):
    path = saved(tmp_path)
    file = path / "model.safetensors"
    blob = file.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin, end - 4]                        # one float short of its shape
    text = json.dumps(header).encode()
    file.write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + n:])
    with pytest.raises(errors.CorruptCheckpointError, match=f"{name}.*offsets"):
        aae_core.load(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, bad):
    path = saved(tmp_path)
    weights = dict(build_model(MODEL_CASES["unsupervised_gaussian"], seed=0).state_dict())
    weights["decoder.0.weight"] = weights["decoder.0.weight"].clone()
    weights["decoder.0.weight"][1, 1] = bad
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path / "model.safetensors"))
    with pytest.raises(errors.NonFiniteWeightsError, match="decoder.0.weight"):
        aae_core.load(path)
    assert issubclass(errors.NonFiniteWeightsError, errors.CheckpointError)


def test_resume_may_change_the_precision_but_nothing_it_learns_from(run_copy, fake_mnist_dir, monkeypatch):
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    args = train_cli.build_parser().parse_args(["--out", str(run_copy), "--resume", "--precision", "fp32",
                                                "--epochs", "2"])
    _, _, train_config = train_cli.resumed_configs(args)
    assert (train_config.precision, train_config.epochs) == ("fp32", 2)
    args = train_cli.build_parser().parse_args(["--out", str(run_copy), "--resume", "--lr-gen", "0.1"])
    with pytest.raises(ValueError, match="--lr-gen 0.1"):
        train_cli.resumed_configs(args)


def test_resume_with_an_optimizer_state_that_does_not_fit_exits_2(run_copy, fake_mnist_dir, capsys):
    """A hand-edited (or another run's) optimizer.safetensors: one line naming the file and the entry,
    before a step is taken (not a SIGSEGV in the fused Adam step, not training on with wrong moments)."""
    from safetensors.torch import load_file
    file = run_copy / "optimizer.safetensors"
    with open(file, "rb") as fh:
        metadata = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))["__metadata__"]
    tensors = load_file(file)
    tensors["generator.1.exp_avg"] = tensors["generator.1.exp_avg"].flatten()[:7].clone()
    save_file(tensors, str(file), metadata=metadata)
    before = snapshot(run_copy)
    line = refused(capsys, lambda: train_cli.main(["--out", str(run_copy), "--resume", "--epochs", "2",
                                                   "--data-dir", fake_mnist_dir]), "generator.1.exp_avg")
    assert "optimizer.safetensors" in line and "[7]" in line
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("out", [".", "", "./", "runs/.."])
def test_train_refuses_an_out_that_names_no_folder_before_loading_data(tmp_path, no_data, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)                               # an empty current folder: every check passed before
    line = refused(capsys, lambda: train_main(out), "--out")
    assert "names no folder" in line                          # before: the whole run trained, then the save crashed
    assert not list(tmp_path.iterdir())


# --- exporting onto its own run (issue 19 #16) ------------------------------------------------------

@pytest.mark.parametrize("dst", ["{src}", "{src}/../ssl", "{src}/shipped", "{link}"])
def test_export_onto_its_own_run_is_refused(run_copy, capsys, dst):
    link = run_copy.parent / "link"
    link.symlink_to(run_copy)
    before = snapshot(run_copy)
    (run_copy / "projection_x.safetensors").write_bytes(before["model.safetensors"])  # a map cache of the run
    before = snapshot(run_copy)
    target = dst.format(src=run_copy, link=link)
    refused(capsys, lambda: export_cli.main([str(run_copy), target, "--overwrite"]), "is the run it exports",
            prog="aae_core.export")
    assert snapshot(run_copy) == before            # optimizer state, metrics and map caches all kept


# --- a file dropped into the run folder while it trains (issue 19 #12) -----------------------------

def test_a_file_dropped_into_the_run_folder_stops_the_run_in_one_line_and_is_kept(tmp_path, fake_mnist_dir,
                                                                                 monkeypatch, capsys):
    from aae_core import callbacks

    out = tmp_path / "run"
    real_save = callbacks.save

    def save_then_drop(model, path, **kwargs):
        result = real_save(model, path, **kwargs)
        if not (out / "notes.txt").exists():
            (out / "notes.txt").write_text("my notes")            # the user, between two saves
        return result

    monkeypatch.setattr(callbacks, "save", save_then_drop)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    code = train_cli.main(["--out", str(out), "--data-dir", fake_mnist_dir, *TINY_ARGS, "--epochs", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    [last] = [line for line in err.splitlines() if "error:" in line]
    assert last.startswith("python -m aae_core.train: error: could not save") and "notes.txt" in last, last
    assert "--resume" in last
    assert (out / "notes.txt").read_text() == "my notes"
    assert aae_core.load(out).checkpoint_meta["progress"]["epoch"] == 1   # the last save is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- hand-edited or damaged resume files (issue 19 #13) --------------------------------------------

def _edit_meta(path: Path, edit) -> None:
    meta = json.loads((path / "config.json").read_text())
    edit(meta)
    (path / "config.json").write_text(json.dumps(meta))


def _edit_groups(path: Path, edit) -> None:
    tensors, metadata = tensor_files.read_safetensors(path / "optimizer.safetensors")
    groups = json.loads(metadata["param_groups"])
    edit(groups)
    save_file(tensors, str(path / "optimizer.safetensors"), metadata={"param_groups": json.dumps(groups)})


RESUME_DAMAGE = {
    "seed is a string": (lambda p: _edit_meta(p, lambda m: m["training"].update(seed="x")), "seed"),
    "epochs is a fraction": (lambda p: _edit_meta(p, lambda m: m["training"].update(epochs=2.5)), "epochs"),
    "lr is a string": (lambda p: _edit_meta(p, lambda m: m["training"].update(lr_generator="fast")), "lr_generator"),
    "precision is a number": (lambda p: _edit_meta(p, lambda m: m["training"].update(precision=16)), "precision"),
    "label_conditioned is a string": (lambda p: _edit_meta(p, lambda m: m["model"].update(label_conditioned="no")),
                                      "label_conditioned"),
    "training is a list": (lambda p: _edit_meta(p, lambda m: m.update(training=[1])), "training"),
    "progress epoch is a string": (lambda p: _edit_meta(p, lambda m: m["progress"].update(epoch="x")), "progress"),
    "progress is a list": (lambda p: _edit_meta(p, lambda m: m.update(progress=[1, 2])), "progress"),
    "history is a string": (lambda p: _edit_meta(p, lambda m: m.update(history="x")), "history"),
    "empty param groups": (lambda p: _edit_groups(p, lambda g: g.update({k: [] for k in g})), "param groups"),
    "an unknown phase": (lambda p: _edit_groups(p, lambda g: g.update(dream=g[next(iter(g))])), "dream"),
}


@pytest.mark.parametrize("damage", list(RESUME_DAMAGE))
def test_a_damaged_resume_file_is_one_line(run_copy, fake_mnist_dir, monkeypatch, capsys, damage):
    edit, named = RESUME_DAMAGE[damage]
    edit(run_copy)
    before = snapshot(run_copy)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    line = refused(capsys, lambda: train_cli.main(["--out", str(run_copy), "--resume", "--epochs", "2",
                                                   "--data-dir", fake_mnist_dir, "--device", "cpu"]), named)
    assert str(run_copy) in line
    assert snapshot(run_copy) == before
