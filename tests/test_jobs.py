"""Training in a background thread (explorer.jobs): finish, stop, divergence, failures, one run per user."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch
from conftest import tiny_config

import aae_core
from aae_core.config import TrainConfig
from aae_core.training import Callback
from explorer import jobs


@pytest.fixture(autouse=True)
def fake_data(fake_mnist_dir, monkeypatch):
    monkeypatch.setenv("AAE_DATA_DIR", fake_mnist_dir)
    return fake_mnist_dir


def _train_config(epochs: int = 2, **overrides) -> TrainConfig:
    return TrainConfig(**{**dict(epochs=epochs, batch_size=20, labelled_batch_size=10, eval_size=50), **overrides})


def _wait_for(predicate, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the job")
        time.sleep(0.01)


def test_a_job_runs_to_the_end_and_reports_everything_the_page_draws(tmp_path):
    out = tmp_path / "run"
    job = jobs.TrainingJob(tiny_config("supervised"), _train_config(epochs=2), out, snapshot_every_s=0.0).start()
    assert job.join(60)
    s = job.status()
    assert s.state == "finished" and s.done and s.progress == 1.0
    assert s.epoch == 2 and s.step == s.total_steps == 2 * (100 // 20)    # 100 labelled images, batch 20
    assert [h["epoch"] for h in s.history] == [1, 2]
    assert s.losses and {"reconstruction", "discriminator", "generator"} <= set(s.losses[-1])
    assert all(math.isfinite(v) for p in s.losses for v in p.values())
    snap = s.snapshot
    assert snap is not None and snap.xy.shape == (50, 2) and snap.labels.shape == (50,)
    assert snap.prior_xy.shape[1] == 2 and snap.step == s.step
    model = aae_core.load(out)                                             # the checkpoint is real and trained
    init = aae_core.build_model(tiny_config("supervised"), seed=0)
    assert not torch.equal(model.decoder[0].weight, init.decoder[0].weight)
    assert s.has_checkpoint and "finished 2 epochs" in s.message


def test_stop_ends_the_run_after_a_mini_batch_and_keeps_a_checkpoint(tmp_path):
    job = jobs.TrainingJob(tiny_config(), _train_config(epochs=500), tmp_path / "run").start()
    _wait_for(lambda: job.status().step >= 3)
    job.stop()
    assert job.join(30)
    s = job.status()
    assert s.state == "stopped" and s.step < s.total_steps
    assert "stopped" in s.message and s.has_checkpoint
    meta = aae_core.checkpoint.read_config(tmp_path / "run")
    assert meta["progress"]["step"] == s.step                              # saved where it stopped


def test_a_stop_asked_for_before_training_starts_is_honoured(tmp_path, monkeypatch):
    stopped = threading.Event()
    real_prepare = jobs.prepare_run

    def slow_prepare(*args, **kwargs):                                     # still loading data when stop() comes
        assert stopped.wait(10)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(jobs, "prepare_run", slow_prepare)
    job = jobs.TrainingJob(tiny_config(), _train_config(epochs=500), tmp_path / "run").start()
    job.stop()
    stopped.set()
    assert job.join(30)
    s = job.status()
    assert s.state == "stopped" and s.step == 0


class _PoisonAt(Callback):
    """Turns every weight to NaN during the given epoch (0-based), as a diverging run would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_step_end(self, trainer) -> None:
        if trainer.state.epoch == self.epoch:
            with torch.no_grad():
                for p in trainer.model.parameters():
                    p.fill_(float("nan"))


def test_a_diverged_run_says_so_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    job = jobs.TrainingJob(tiny_config(), _train_config(epochs=4), out, callbacks=[_PoisonAt(1)]).start()
    assert job.join(60)
    s = job.status()
    assert s.state == "diverged"
    assert "NaN" in s.message and "last good checkpoint (epoch 1)" in s.message
    model = aae_core.load(out)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert aae_core.checkpoint.read_config(out)["progress"]["epoch"] == 1


def test_a_run_that_cannot_start_fails_with_a_message(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise aae_core.DataError("no MNIST here")

    monkeypatch.setattr(jobs, "prepare_run", broken)
    job = jobs.TrainingJob(tiny_config(), _train_config(), tmp_path / "run").start()
    assert job.join(10)
    s = job.status()
    assert s.state == "failed" and "no MNIST here" in s.message and not s.has_checkpoint


def test_one_run_per_user_and_users_do_not_disturb_each_other(tmp_path):
    registry = jobs.JobRegistry(root=lambda: tmp_path)
    long = registry.start("alice", tiny_config(), _train_config(epochs=500))
    with pytest.raises(jobs.JobBusyError, match="already have a run"):
        registry.start("alice", tiny_config(), _train_config(epochs=1))
    bob = registry.start("bob", tiny_config("vae", latent_dim=3), _train_config(epochs=1))
    assert registry.get("alice") is long and registry.get("bob") is bob and long.out != bob.out
    assert bob.join(60) and bob.status().state == "finished"
    assert not long.done                                                  # bob's run left alice's alone
    assert registry.stop("alice") and long.join(30) and long.status().state == "stopped"
    assert not registry.stop("alice")                                      # nothing left to stop
    again = registry.start("alice", tiny_config(), _train_config(epochs=1))  # a new run once the old one ended
    assert again.join(60) and again.out != long.out
    for user, job in (("alice", again), ("bob", bob)):
        meta = aae_core.checkpoint.read_config(job.out)
        assert meta["app_user"] == user
    assert aae_core.checkpoint.read_config(bob.out)["model"].kind == "vae"
    registry.forget("bob")
    assert registry.get("bob") is None and bob.out.is_dir()               # forgetting keeps the checkpoint


def test_background_tasks_are_shared_and_report_progress_and_errors():
    tasks = jobs.TaskRegistry()
    calls = []

    def work(progress):
        calls.append(1)
        progress(0.5, "half way")
        return 42

    task = tasks.get_or_start("k", work)
    assert tasks.get_or_start("k", work) is task and task.join(5)
    assert task.status().state == "done" and task.status().result == 42 and calls == [1]

    failing = tasks.get_or_start("bad", lambda progress: 1 / 0)
    assert failing.join(5)
    assert failing.status().state == "failed" and "ZeroDivisionError" in failing.status().error
    assert tasks.get_or_start("bad", work) is failing                      # not retried behind the user's back
    tasks.discard("bad")
    assert tasks.get_or_start("bad", work).join(5)
