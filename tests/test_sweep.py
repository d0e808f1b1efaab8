"""Recipe sweeps (aae_core.sweep): worker processes sharing one Optuna journal, a killed worker, bad inputs,
and the winner printed as a recipe change. Tiny models on the synthetic MNIST."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from test_cli import assert_one_line_error

from aae_core import sweep, sweep_space
from aae_core.recipes import resolve

REPO = Path(__file__).resolve().parents[1]
TINY = ["--recipe", "clustering_16", "--set", "hidden_dim=16", "--set", "disc_hidden_dim=16", "--set", "eval_size=50",
        "--set", "n_classes=4", "--metric", "eval_error"]


def start(tmp_path: Path, data_dir: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), AAE_DATA_DIR=data_dir)
    return subprocess.Popen([sys.executable, "-m", "aae_core.sweep", "--dir", str(tmp_path), "--data-dir", data_dir,
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load(tmp_path: Path, name: str) -> optuna.Study:
    backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / name / "journal.log"))
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))


def test_two_workers_on_one_journal_finish_the_trials_each_once(tmp_path, fake_mnist_dir):
    proc = start(tmp_path, fake_mnist_dir, "--name", "two", *TINY, "--epochs", "2", "--trials", "5", "--workers", "2",
                 "--field", "lr_generator=1e-4:1e-3:log", "--field", "class_code_noise.shape=constant,linear",
                 "--field", "class_code_noise.final=0:0.2")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    study = load(tmp_path, "two")
    trials = study.get_trials()
    done = [t for t in trials if t.state in sweep.DONE]
    assert len(done) == 5 and len(trials) == 5
    assert trials[0].params["lr_generator"] == resolve("clustering_16").train.lr_generator   # the recipe went first
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2                                              # both processes ran trials
    folders = [Path(t.user_attrs["run"]) for t in trials]
    assert len(set(folders)) == 5                                         # no trial twice, no folder shared
    for t, folder in zip(trials, folders, strict=True):
        config = json.loads((folder / "config.json").read_text())
        assert (config["sweep"], config["trial"], config["recipe"]) == ("two", t.number, "clustering_16")
        assert config["training"]["lr_generator"] == pytest.approx(t.params["lr_generator"])
        assert config["training"]["epochs"] == 2 and config["model"]["hidden_dim"] == 16
    assert "# changes to recipe clustering_16:" in out and "hidden_dim=16," in out

    again = start(tmp_path, fake_mnist_dir, "--name", "two", "--trials", "6")    # resume: one more trial
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert len([t for t in load(tmp_path, "two").get_trials() if t.state in sweep.DONE]) == 6


def test_a_worker_killed_mid_trial_leaves_a_failed_trial_and_the_study_goes_on(tmp_path, fake_mnist_dir):
    args = ("--name", "kill", *TINY, "--epochs", "40", "--trials", "3", "--field", "input_noise=0:0.5")
    first = start(tmp_path, fake_mnist_dir, *args)
    deadline = time.time() + 120
    victim = None
    while victim is None and time.time() < deadline:      # wait for its first trial to be mid-way
        time.sleep(0.2)
        try:
            running = load(tmp_path, "kill").get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except (KeyError, FileNotFoundError):            # the study is not written yet
            continue
        if running and (Path(running[0].user_attrs.get("run", "/none")) / "config.json").exists():
                victim = running[0].number
    assert victim is not None, first.communicate(timeout=5)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = start(tmp_path, fake_mnist_dir, "--name", "kill")
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    assert f"trial {victim}: its worker" in err
    trials = load(tmp_path, "kill").get_trials()
    assert trials[victim].state == optuna.trial.TrialState.FAIL
    assert len([t for t in trials if t.state in sweep.DONE]) == 3


@pytest.mark.parametrize("args, match", [
    (["--field", "latent_size=2:8"], "--field latent_size: unknown field; sweepable: prior, latent_dim"),
    (["--field", "lr_generator=1e-3:1e-4"], "LOW must be below HIGH"),
    (["--field", "input_noise=0:0.5:log"], "a log range must start above 0"),
    (["--field", "latent_dim=2.5:8"], "latent_dim is a whole number"),
    (["--field", "lr_generator=fast"], "expected LOW:HIGH or LOW:HIGH:log"),
    (["--field", "epochs.shape=linear,cosine"], "only lr_reconstruction"),
    (["--field", "input_noise=0:0.5", "--metric", "eval_accuracy"],
     "unknown metric 'eval_accuracy' for a clustering model; it reports eval_mse, eval_error"),
    (["--field", "input_noise=0:0.5", "--set", "hidden=3"], "unknown config field hidden"),
    (["--field", "input_noise=0:0.5", "--prune-after", "-1"], "--prune-after must be >= 0 epochs; got -1"),
])
def test_bad_inputs_are_one_line_errors_with_exit_2(tmp_path, args, match, capsys):
    with pytest.raises(SystemExit) as info:
        sweep.main(["--dir", str(tmp_path), "--name", "bad", "--recipe", "clustering_16", "--epochs", "1",
                    "--trials", "2", "--metric", "eval_error", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m aae_core.sweep: error: ") and match in err[0], err


def test_a_bad_input_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aae_core.sweep", "--dir", str(tmp_path), "--name", "bad",
                           "--recipe", "clustering_16", "--epochs", "1", "--trials", "2", "--metric", "eval_error",
                           "--field", "lr_generator=1e-3:1e-4"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)))
    assert_one_line_error(proc, "aae_core.sweep", "LOW must be below HIGH")


def test_schedule_fields_become_schedules_and_the_recipe_values_come_first():
    start_ = resolve("clustering_16")
    fields = [sweep_space.parse_field(f) for f in ("class_code_noise=0.1:0.7", "class_code_noise.shape=constant,linear",
                                             "class_code_noise.final=0:0.2", "latent_dim=3,5,8")]
    assert sweep_space.recipe_params(fields, start_) == {
        "class_code_noise": pytest.approx(0.5975, abs=1e-4), "class_code_noise.shape": "linear",
        "class_code_noise.final": pytest.approx(0.0518, abs=1e-4), "latent_dim": 5}
    changes = sweep_space.changes_of({"class_code_noise": 0.4, "class_code_noise.shape": "linear",
                                "class_code_noise.final": 0.05}, start_)
    run = resolve("clustering_16", **changes)
    assert run.train.class_code_noise == 0.4 and run.train.at(1.0).class_code_noise == pytest.approx(0.05)


def test_how_long_trials_run_before_pruning_is_saved_with_the_sweep_and_kept_on_resume(tmp_path, fake_mnist_dir,
                                                                                      capsys):
    base = ["--dir", str(tmp_path), "--name", "late", *TINY, "--epochs", "1", "--field", "input_noise=0:0.5",
            "--data-dir", fake_mnist_dir]
    assert sweep.main([*base, "--trials", "1", "--prune-after", "12"]) == 0
    study = load(tmp_path, "late")
    assert study.user_attrs["prune_after"] == 12 and sweep.pruner(study.user_attrs)._n_warmup_steps == 12
    assert sweep.pruner({})._n_warmup_steps == sweep.PRUNE_AFTER == 2      # a sweep saved before the setting
    with pytest.raises(SystemExit) as info:                                # resumed with another: refused
        sweep.main([*base, "--trials", "2", "--prune-after", "3"])
    assert info.value.code == 2 and "was started with other prune_after" in capsys.readouterr().err
    assert sweep.main([*base, "--trials", "2"]) == 0                        # resumed as saved: one more trial
    assert len(load(tmp_path, "late").get_trials()) == 2


def test_a_database_storage_runs_the_sweep_and_beats_the_heart_of_each_trial(tmp_path, fake_mnist_dir, capsys):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    assert sweep.main(["--dir", str(tmp_path), "--name", "db", "--storage", url, *TINY, "--epochs", "1",
                       "--trials", "2", "--field", "input_noise=0:0.5", "--data-dir", fake_mnist_dir]) == 0
    study = optuna.load_study(study_name="db", storage=url)
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.COMPLETE] * 2
    beats = sqlite3.connect(tmp_path / "sweeps.db").execute("select count(*) from trial_heartbeats").fetchone()
    assert beats == (2,)
    assert "trial 0, validation eval_error" in capsys.readouterr().out
