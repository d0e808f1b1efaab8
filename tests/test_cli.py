"""The command lines: bad arguments exit 2 with one line, a tiny real run writes a loadable
checkpoint, and evaluate prints and writes its metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import aae_core
from aae_core import evaluate as evaluate_cli
from aae_core import train as train_cli

REPO = Path(__file__).resolve().parents[1]
TINY_ARGS = ["--hidden", "16", "--disc-hidden", "16", "--epochs", "1", "--batch-size", "50", "--device", "cpu",
             "--eval-size", "50"]


def run(module: str, *args: str, data_dir: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if data_dir is not None:
        env["AAE_DATA_DIR"] = data_dir   # never reach for the real dataset
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, prog: str, match: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], proc.stderr
    assert errors[0].startswith(f"python -m {prog}: error: ")
    assert match in errors[0], errors[0]


@pytest.mark.parametrize("args,match", [
    (["--kind", "gan"], "argument --kind: invalid choice: 'gan'"),
    (["--labels", "abc"], "expected a number of labelled images or 'all'; got 'abc'"),
    (["--prior", "mixture", "--latent-dim", "3"], "the mixture prior is 2-D: latent_dim must be 2, got 3"),
    (["--kind", "semi_supervised", "--labels", "105"], "positive multiple of 10"),
])
def test_train_cli_bad_arguments_exit_2_with_one_line(args, match, tmp_path, fake_mnist_dir):
    proc = run("aae_core.train", "--out", str(tmp_path / "run"), "--data-dir", fake_mnist_dir, *TINY_ARGS, *args,
               data_dir=fake_mnist_dir)
    assert_one_line_error(proc, "aae_core.train", match)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,match", [
    (["--kind", "vae", "--labels", "100"], "kind 'vae' uses no labels"),
    (["--labels", "-10"], "the label budget cannot be negative"),
    (["--kind", "clustering", "--n-classes", "1"], "n_classes >= 2"),
    (["--batch-size", "0"], "batch_size must be a positive integer"),
    (["--save-every", "0"], "--save-every must be >= 1"),
    (["--prior", "categorical", "--latent-dim", "4"], "latent_dim must equal n_classes"),
    (["--device", "nonsense"], "device must be"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--precision", "fp16"], "argument --precision: invalid choice: 'fp16'"),
])
def test_train_main_rejects_bad_arguments(args, match, tmp_path, fake_mnist_dir, capsys):
    with pytest.raises(SystemExit) as info:
        train_cli.main(["--out", str(tmp_path / "run"), "--data-dir", fake_mnist_dir, *TINY_ARGS, *args])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m aae_core.train: error: ") and match in err[-1], err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fake_mnist_dir) -> Path:
    """A semi-supervised run of one epoch on the synthetic MNIST, through the real command line."""
    out = tmp_path_factory.mktemp("cli") / "ssl"
    proc = run("aae_core.train", "--kind", "semi_supervised", "--latent-dim", "3", "--out", str(out),
               "--data-dir", fake_mnist_dir, *TINY_ARGS, data_dir=fake_mnist_dir)
    assert proc.returncode == 0, proc.stderr
    assert f"finished: saved {out} (epoch 1, step 11)" in proc.stderr   # 550 images: 50 held out for validation
    return out


def test_train_cli_writes_a_checkpoint_that_loads(trained):
    model = aae_core.load(trained)
    c = model.config
    assert (c.kind, c.latent_dim, c.n_labels, c.hidden_dim, c.disc_hidden_dim) == ("semi_supervised", 3, 100, 16, 16)
    meta = model.checkpoint_meta
    assert meta["progress"] == {"epoch": 1, "step": 11}                # 550 images: 50 held out
    assert meta["training"]["batch_size"] == 50
    assert meta["training"]["precision"] == "auto" and meta["precision"] in ("fp32", "bf16")
    assert len(meta["history"]) == 1 and "eval_error" in meta["history"][0]
    assert (trained / "optimizer.safetensors").is_file()


def test_train_cli_resumes(trained, tmp_path, fake_mnist_dir):
    import shutil

    out = tmp_path / "ssl"
    shutil.copytree(trained, out)
    proc = run("aae_core.train", "--kind", "semi_supervised", "--latent-dim", "3", "--out", str(out),
               "--data-dir", fake_mnist_dir, *TINY_ARGS, "--epochs", "2", "--resume", data_dir=fake_mnist_dir)
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stderr
    meta = aae_core.load(out).checkpoint_meta
    assert meta["progress"] == {"epoch": 2, "step": 22}                # 550 images: 50 held out
    assert [h["epoch"] for h in meta["history"]] == [1, 2]


def test_evaluate_cli_prints_json_and_writes_metrics(trained, fake_mnist_dir):
    proc = run("aae_core.evaluate", str(trained), "--data-dir", fake_mnist_dir, "--device", "cpu",
               data_dir=fake_mnist_dir)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["n_test"] == 200 and printed["kind"] == "semi_supervised"
    assert 0 <= printed["classification_error"] <= 1
    assert {"reconstruction", "prior_fit", "device", "seconds"} <= set(printed)
    assert aae_core.load_metrics(trained) == printed


def test_evaluate_no_write_and_n_test(trained, fake_mnist_dir, capsys):
    before = (trained / "metrics.json").read_bytes() if (trained / "metrics.json").exists() else None
    assert evaluate_cli.main([str(trained), "--data-dir", fake_mnist_dir, "--device", "cpu", "--n-test", "30",
                              "--no-write"]) == 0
    assert json.loads(capsys.readouterr().out)["n_test"] == 30
    after = (trained / "metrics.json").read_bytes() if (trained / "metrics.json").exists() else None
    assert after == before


def test_evaluate_adds_the_latent_probe_and_keeps_the_other_numbers(trained, fake_mnist_dir, capsys):
    assert evaluate_cli.main([str(trained), "--data-dir", fake_mnist_dir, "--device", "cpu"]) == 0
    before = aae_core.load_metrics(trained)
    capsys.readouterr()
    assert evaluate_cli.main([str(trained), "--data-dir", fake_mnist_dir, "--device", "cpu",
                              "--add-latent-probe"]) == 0
    printed = json.loads(capsys.readouterr().out)
    after = aae_core.load_metrics(trained)
    assert after["latent_probe"] == printed
    assert printed["n_train"] == 550 and printed["n_test"] == 200       # the run held 50 of 600 out
    assert 0 <= printed["knn1_accuracy"] <= 1 and 0 <= printed["linear_svm_accuracy"] <= 1
    assert {k: v for k, v in after.items() if k != "latent_probe"} == before


def test_evaluate_on_the_validation_split_prints_and_never_writes(trained, fake_mnist_dir, capsys):
    """Choices are made on the images the run held out (the fixture's run: 50 of the 600); metrics.json
    stays the test set's report."""
    before = (trained / "metrics.json").read_bytes() if (trained / "metrics.json").exists() else None
    assert evaluate_cli.main([str(trained), "--data-dir", fake_mnist_dir, "--device", "cpu",
                              "--split", "validation"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "validation" and printed["n_test"] == 50
    after = (trained / "metrics.json").read_bytes() if (trained / "metrics.json").exists() else None
    assert after == before
    train, _ = aae_core.data.load_dataset("mnist", data_dir=fake_mnist_dir)
    _, val_idx = aae_core.data.validation_split(train.labels, aae_core.TrainConfig().validation_fraction)
    held_out = train.take(val_idx)
    expected = aae_core.metrics.reconstruction_error(aae_core.load(trained), held_out.to_float(), held_out.labels)
    assert printed["reconstruction"]["mse"] == pytest.approx(expected["mse"], rel=1e-5)


def test_evaluate_cli_on_a_missing_folder_exits_2_with_one_line(tmp_path, fake_mnist_dir):
    proc = run("aae_core.evaluate", str(tmp_path / "nope"), "--data-dir", fake_mnist_dir, data_dir=fake_mnist_dir)
    assert_one_line_error(proc, "aae_core.evaluate", f"no checkpoint folder at {tmp_path / 'nope'}")
    assert proc.stdout == ""


def test_evaluate_main_on_a_corrupt_checkpoint(trained, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(SystemExit) as info:
        evaluate_cli.main([str(bad), "--device", "cpu"])
    assert info.value.code == 2
    assert "truncated or not a safetensors file" in capsys.readouterr().err


# --- one run per --out (issue 19 #9) and --out naming a folder (#11) --------------------------------
def test_a_second_training_on_the_same_out_exits_2_at_once_naming_the_folder(tmp_path, fake_mnist_dir):
    import signal
    import time

    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), AAE_DATA_DIR=fake_mnist_dir)
    first = subprocess.Popen([sys.executable, "-m", "aae_core.train", "--out", str(out), "--data-dir",
                              fake_mnist_dir, *TINY_ARGS, "--epochs", "500"], cwd=REPO, env=env,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (out / "config.json").is_file():   # the first run has trained and saved an epoch
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else ""
            time.sleep(0.2)
        for extra in ([], ["--resume"], ["--overwrite"]):
            second = run("aae_core.train", "--out", str(out), "--data-dir", fake_mnist_dir, *TINY_ARGS, *extra,
                         data_dir=fake_mnist_dir)
            assert_one_line_error(second, "aae_core.train", f"{out} is in use by another training run")
            assert str(first.pid) in second.stderr
        assert first.poll() is None                    # the first run trains on
    finally:
        first.send_signal(signal.SIGINT)               # stops after this mini-batch, saves, exits 130
        _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "Traceback" not in err
    aae_core.load(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]   # the lock went with its run


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    from aae_core import fsutil

    out = tmp_path / "run"
    code = ("import os, signal, sys; from aae_core import fsutil; fsutil.lock_folder(sys.argv[1]); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == -9
    assert [p.name for p in tmp_path.iterdir()] == [".run.lock"]   # left behind, and no longer held
    release = fsutil.lock_folder(out)
    release()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out", [".", "", "..", "./"])
def test_an_out_that_names_the_current_folder_is_refused_before_training(out, tmp_path, fake_mnist_dir,
                                                                         monkeypatch, capsys):
    work = tmp_path / "empty" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    with pytest.raises(SystemExit) as info:
        train_cli.main(["--out", out, "--data-dir", fake_mnist_dir, *TINY_ARGS])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("python -m aae_core.train: error: --out") and "new folder" in last, last
    assert list(work.iterdir()) == [] and sorted(p.name for p in work.parent.iterdir()) == ["here"]
