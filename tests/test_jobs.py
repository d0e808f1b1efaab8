"""Training in a background thread or a worker process (explorer.runs): finish, stop, divergence, failures,
one run per user, the server-wide queue, the per-user caps on stored runs, memory released by ended runs,
torch threads."""

from __future__ import annotations

import gc
import json
import math
import os
import threading
import time
import weakref

import pytest
import torch
from conftest import assert_trained, run_train_config, tiny_config, two_epoch_run, wait_for

import aae_core
from aae_core.training import Callback
from explorer import runs, settings, tasks, umap_worker
from explorer.runs import jobs

pytestmark = pytest.mark.usefixtures("fake_data")      # every run reads the fake MNIST


def test_a_job_runs_to_the_end_and_reports_everything_the_page_draws(tmp_path):
    out = tmp_path / "run"
    _, s = two_epoch_run(runs.TrainingJob, out)
    assert s.state == "finished" and s.done and s.progress == 1.0
    assert s.epoch == 2 and s.step == s.total_steps == 2 * (100 // 20)    # 100 labelled images, batch 20
    assert [h["epoch"] for h in s.history] == [1, 2]
    assert s.losses and {"reconstruction", "discriminator", "generator"} <= set(s.losses[-1])
    assert all(math.isfinite(v) for p in s.losses for v in p.values())
    snap = s.snapshot
    assert snap is not None and snap.xy.shape == (50, 2) and snap.labels.shape == (50,)
    assert snap.prior_xy.shape[1] == 2 and snap.step == s.step
    assert_trained(out, tiny_config("supervised"))                        # the checkpoint is real and trained
    assert s.has_checkpoint and "finished 2 epochs" in s.message


def test_stop_ends_the_run_after_a_mini_batch_and_keeps_a_checkpoint(tmp_path):
    job = runs.TrainingJob(tiny_config(), run_train_config(epochs=500), tmp_path / "run").start()
    wait_for(lambda: job.status().step >= 3)
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
    job = runs.TrainingJob(tiny_config(), run_train_config(epochs=500), tmp_path / "run").start()
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
    job = runs.TrainingJob(tiny_config(), run_train_config(epochs=4), out, callbacks=[_PoisonAt(1)]).start()
    assert job.join(180)
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
    job = runs.TrainingJob(tiny_config(), run_train_config(), tmp_path / "run").start()
    assert job.join(10)
    s = job.status()
    assert s.state == "failed" and "no MNIST here" in s.message and not s.has_checkpoint


def test_one_run_per_user_and_users_do_not_disturb_each_other(tmp_path):
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=2)
    long = registry.start("alice", tiny_config(), run_train_config(epochs=500))
    with pytest.raises(runs.JobBusyError, match="already have a run"):
        registry.start("alice", tiny_config(), run_train_config(epochs=1))
    bob = registry.start("bob", tiny_config("vae", latent_dim=3), run_train_config(epochs=1))
    assert registry.get("alice") is long and registry.get("bob") is bob and long.out != bob.out
    assert bob.join(180) and bob.status().state == "finished"
    assert not long.done                                                  # bob's run left alice's alone
    assert registry.stop("alice") and long.join(30) and long.status().state == "stopped"
    assert not registry.stop("alice")                                      # nothing left to stop
    again = registry.start("alice", tiny_config(), run_train_config(epochs=1))  # a new run once the old one ended
    assert again.join(180) and again.out != long.out
    for user, job in (("alice", again), ("bob", bob)):
        meta = aae_core.checkpoint.read_config(job.out)
        assert meta["app_user"] == user
    assert aae_core.checkpoint.read_config(bob.out)["model"].kind == "vae"
    registry.forget("bob")
    assert registry.get("bob") is None and bob.out.is_dir()               # forgetting keeps the checkpoint


def test_background_tasks_are_shared_and_report_progress_and_errors():
    shared = tasks.TaskRegistry()
    calls = []

    def work(progress):
        calls.append(1)
        progress(0.5, "half way")
        return 42

    task = shared.get_or_start("k", work)
    assert shared.get_or_start("k", work) is task and task.join(5)
    assert task.status().state == "done" and task.status().result == 42 and calls == [1]

    failing = shared.get_or_start("bad", lambda progress: 1 / 0)
    assert failing.join(5)
    assert failing.status().state == "failed" and "ZeroDivisionError" in failing.status().error
    assert shared.get_or_start("bad", work) is failing                      # not retried behind the user's back
    shared.discard("bad")
    assert shared.get_or_start("bad", work).join(5)


def test_background_tasks_wait_their_turn_and_let_go_of_what_they_held():
    shared = tasks.TaskRegistry(max_running=1, keep_done=1)
    gate = threading.Event()

    class Held:                                                             # stands for a model and a test set
        pass

    held = Held()
    ref = weakref.ref(held)

    def first(progress, held=held):
        assert gate.wait(10)
        return 1

    a = shared.get_or_start("a", first)
    b = shared.get_or_start("b", lambda progress: 2)
    del held, first                                                         # the task holds the only references
    wait_for(lambda: "waiting" in b.status().message, 5)
    assert not b.join(0.3) and b.status().state == "running"               # at most one at once
    gate.set()
    assert a.join(5) and b.join(5) and b.status().result == 2
    gc.collect()
    assert ref() is None                                                    # the finished task let go of it
    assert shared.get_or_start("c", lambda progress: 3).join(5)
    assert shared.get("a") is None and shared.get("b") is not None           # only the last finished one kept


# --- the queue, the caps, memory, threads -----------------------------------------------------------
class _Record(Callback):
    """Notes, from the training thread, the order runs start in and the thread count they see."""

    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def on_train_start(self, trainer) -> None:
        self.log.append((self.name, torch.get_num_threads()))


def test_at_most_k_runs_train_at_once_the_rest_wait_in_order_and_can_leave(tmp_path):
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=runs.TrainingJob)  # callbacks here
    started: list = []
    by_user = {}
    for user in ("a", "b", "c", "d"):
        by_user[user] = registry.start(user, tiny_config(), run_train_config(epochs=500),
                                       callbacks=[_Record(user, started)])
    wait_for(lambda: by_user["a"].status().state == "running")
    assert [by_user[u].status().state for u in "bcd"] == ["queued"] * 3
    assert [by_user[u].status().queue_position for u in "bcd"] == [1, 2, 3]
    assert by_user["b"].status().queue_length == 3 and by_user["a"].status().queue_position is None
    assert registry.leave_queue("b") and by_user["b"].status().state == "left" and registry.get("b") is None
    assert [by_user[u].status().queue_position for u in "cd"] == [1, 2]        # the others moved up
    assert not registry.leave_queue("a")                                   # a running run is stopped, not left
    assert registry.stop("a") and by_user["a"].join(30)
    wait_for(lambda: by_user["c"].status().state == "running")
    assert by_user["d"].status().state == "queued" and by_user["d"].status().queue_position == 1
    assert registry.stop("d") and by_user["d"].status().state == "left"      # stopping a waiting run leaves the queue
    assert registry.stop("c") and by_user["c"].join(30)
    assert [name for name, _ in started] == ["a", "c"]                    # first come, first served; b, d never ran
    assert not by_user["b"].out.exists() and not by_user["d"].out.exists()


def test_a_waiting_run_whose_owner_left_is_not_started_when_its_turn_comes(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.registry, "TEND_EVERY_S", 3600.0)           # only the turn itself looks
    gone: set[str] = set()
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=runs.TrainingJob,
                                present=lambda user: user not in gone)
    started: list = []
    by_user = {u: registry.start(u, tiny_config(), run_train_config(epochs=500), callbacks=[_Record(u, started)])
               for u in ("a", "b", "c")}
    wait_for(lambda: by_user["a"].status().state == "running")
    gone.add("b")                                     # b closed the tab while waiting
    assert registry.stop("a") and by_user["a"].join(30)
    wait_for(lambda: by_user["c"].status().state == "running")
    b = by_user["b"].status()
    assert b.state == "left" and "Left the queue when its turn came" in b.message and "new run below" in b.message
    assert not by_user["b"].out.exists()                                  # nothing was made for it
    assert registry.get("b") is by_user["b"]                              # a returning b reads why
    gone.discard("b")
    assert registry.start("b", tiny_config(), run_train_config(epochs=1)).status().state == "queued"  # and queues again
    assert registry.stop("b") and registry.stop("c") and by_user["c"].join(30)
    assert [name for name, _ in started] == ["a", "c"]


def test_while_runs_wait_the_registry_makes_room_for_the_students_still_here(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.registry, "TEND_EVERY_S", 0.05)
    gone: set[str] = set()
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=runs.TrainingJob,
                                present=lambda user: user not in gone)
    a = registry.start("a", tiny_config(), run_train_config(epochs=500))
    wait_for(lambda: a.status().step >= 2)
    gone.add("a")
    assert registry.tend() == [] and not a.join(0.5)                     # nobody waits: it keeps training
    b = registry.start("b", tiny_config(), run_train_config(epochs=500))  # someone waits: a makes room
    assert a.join(30)
    s = a.status()
    assert s.state == "stopped" and s.has_checkpoint and s.message.startswith("Stopped to make room: ")
    assert "saved as run" in s.message                                    # the run's own words follow
    wait_for(lambda: b.status().state == "running")
    c = registry.start("c", tiny_config(), run_train_config(epochs=500))
    d = registry.start("d", tiny_config(), run_train_config(epochs=500))
    assert not b.join(0.5) and c.status().queue_position == 1             # b is here: it goes on
    gone.add("c")                                                         # c leaves while waiting ...
    wait_for(lambda: c.status().state == "left", 10)                      # ... the registry's thread sees it
    assert "Left the queue: this browser had left" in c.status().message
    assert d.status().queue_position == 1 and d.status().queue_length == 1
    gone.add("b")                                                         # b leaves while training: d gets it
    assert b.join(30) and b.status().message.startswith("Stopped to make room")
    wait_for(lambda: d.status().state == "running")
    assert registry.stop("d") and d.join(30)
    assert "Stopped to make room" not in d.status().message               # its owner stopped it


def test_the_registry_stops_no_more_runs_than_there_are_students_waiting_for_them(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.registry, "TEND_EVERY_S", 3600.0)
    gone: set[str] = set()
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=2, make_job=runs.TrainingJob,
                                present=lambda user: user not in gone)
    a, b = (registry.start(u, tiny_config(), run_train_config(epochs=500)) for u in "ab")
    wait_for(lambda: a.status().state == b.status().state == "running")
    gone.update("ab")
    c = registry.start("c", tiny_config(), run_train_config(epochs=500))  # one waits: one of the two gives way
    wait_for(lambda: c.status().state == "running")
    assert sorted(j.status().state for j in (a, b)) == ["running", "stopped"]
    kept = a if a.status().state == "running" else b
    gone.add("d")
    d = registry.start("d", tiny_config(), run_train_config(epochs=500))  # a waiter who has left already
    assert d.status().state == "left" and registry.tend() == []           # leaves; nobody else waits: kept goes on
    assert not kept.join(0.5)
    for user in "abc":
        registry.stop(user)
    for job in (a, b, c):
        assert job.join(30)


def test_the_queue_has_a_length_limit(tmp_path):
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, max_queued=1)
    first = registry.start("a", tiny_config(), run_train_config(epochs=500))
    registry.start("b", tiny_config(), run_train_config(epochs=500))
    try:
        with pytest.raises(runs.QueueFullError, match="queue is full"):
            registry.start("c", tiny_config(), run_train_config(epochs=1))
    finally:
        registry.stop("b")
        registry.stop("a")
        first.join(30)


def test_k_comes_from_the_cores_or_the_environment(monkeypatch):
    monkeypatch.delenv("AAE_MAX_TRAININGS", raising=False)
    for cores, k in ((None, 1), (1, 1), (2, 1), (3, 1), (16, 8)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert settings.max_trainings() == k
    monkeypatch.setenv("AAE_MAX_TRAININGS", "3")
    assert settings.max_trainings() == 3
    for bad in ("0", "-1", "two"):
        monkeypatch.setenv("AAE_MAX_TRAININGS", bad)
        with pytest.raises(ValueError, match="AAE_MAX_TRAININGS"):
            settings.max_trainings()


def test_training_threads_share_the_cores_the_server_leaves_free(monkeypatch):
    monkeypatch.delenv("AAE_MAX_TRAININGS", raising=False)
    for cores, k, threads in ((2, 1, 1), (1, 1, 1), (16, 8, 1), (16, 1, 8), (16, 2, 4), (8, 2, 2)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert settings.training_threads(k) == threads, (cores, k)


def test_a_cpu_run_sets_the_servers_torch_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=4,          # 4 of 8 cores free: 1 thread each
                                make_job=runs.TrainingJob)
    seen: list = []
    torch.set_num_threads(2)
    try:
        job = registry.start("a", tiny_config(), run_train_config(epochs=1), device="cpu",
                             callbacks=[_Record("a", seen)])
        assert job.join(180) and job.status().state == "finished"
        later: list = []
        t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))   # e.g. a new script thread
        t.start()
        t.join()
        assert seen == [("a", 1)] and later == [1]
    finally:
        torch.set_num_threads(1)


def _app_run(root, name: str, owner: str, age_s: float, pad_bytes: int = 0):
    """A run folder as the app leaves one (config.json with app_user), last written age_s seconds ago."""
    folder = aae_core.save(aae_core.build_model(tiny_config()), root / name, extra={"app_user": owner})
    if pad_bytes:
        (folder / "optimizer.safetensors").write_bytes(b"\0" * pad_bytes)
    when = time.time() - age_s
    for f in (folder / "config.json", folder):
        os.utime(f, (when, when))
    return folder


def test_a_user_keeps_at_most_n_runs_oldest_removed_first_and_nothing_else_is_touched(tmp_path):
    mine = [_app_run(tmp_path, f"mine{i}", "alice", age_s=1000 - i) for i in range(5)]     # mine0 is the oldest
    theirs = _app_run(tmp_path, "theirs", "bob", age_s=5000)
    (tmp_path / "not_a_run").mkdir()
    (tmp_path / "not_a_run" / "notes.txt").write_text("keep me")
    (tmp_path / "cli_run").mkdir()
    (tmp_path / "cli_run" / "config.json").write_text(json.dumps({"model": {}, "command": "python -m ..."}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    (tmp_path / "loose_file").write_text("alice")
    (tmp_path / "elsewhere").mkdir()
    outside = _app_run(tmp_path / "elsewhere", "linked", "alice", age_s=9000)
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)              # a link is not the app's folder

    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, max_runs=5)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=1))
    assert job.join(180) and job.status().state == "finished"
    assert not mine[0].exists() and all(m.exists() for m in mine[1:]) and job.out.is_dir()
    assert job.status().evicted == ("mine0",)
    assert [p.name for p in runs.stored_runs(tmp_path, "alice")] == \
        ["mine1", "mine2", "mine3", "mine4", job.out.name]
    for kept in (theirs, tmp_path / "not_a_run" / "notes.txt", tmp_path / "cli_run", tmp_path / "broken",
                 tmp_path / "loose_file", outside, tmp_path / "link"):
        assert kept.exists(), kept


def test_a_users_runs_stay_within_the_disk_quota_oldest_removed_first(tmp_path, monkeypatch):
    old = _app_run(tmp_path, "old", "alice", age_s=300, pad_bytes=500_000)          # ~0.72 MB
    mid = _app_run(tmp_path, "mid", "alice", age_s=200, pad_bytes=100_000)          # ~0.32 MB
    bob = _app_run(tmp_path, "bob_run", "bob", age_s=900, pad_bytes=900_000)
    monkeypatch.setenv("AAE_RUNS_QUOTA_MB", "1.3")          # the new run (~0.9 MB with its optimizer) tips it over
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=1))
    assert job.join(180) and job.status().state == "finished"
    assert not old.exists() and mid.exists() and bob.exists() and job.out.exists()
    assert job.status().evicted == ("old",)
    assert sum(runs.folder_bytes(p) for p in runs.stored_runs(tmp_path, "alice")) <= 1_300_000


def test_a_run_in_progress_is_never_evicted(tmp_path):
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, max_runs=1)
    long = registry.start("alice", tiny_config(), run_train_config(epochs=500))
    wait_for(lambda: long.out.is_dir() or long.status().done)
    try:
        assert runs.evict_runs(tmp_path, "alice", keep=0, quota_bytes=0, protect=registry.protected()) == []
        assert long.out.is_dir()
    finally:
        registry.stop("alice")
        long.join(30)


def test_an_ended_run_releases_its_model_and_data(tmp_path):
    refs: list = []

    class Grab(Callback):
        def on_train_start(self, trainer) -> None:
            refs.extend([weakref.ref(trainer), weakref.ref(trainer.model), weakref.ref(trainer.images)])

    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=runs.TrainingJob)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=1), callbacks=[Grab()])
    assert job.join(180) and job.status().state == "finished"
    stopped = registry.start("bob", tiny_config(), run_train_config(epochs=500), callbacks=[Grab()])
    wait_for(lambda: stopped.status().step >= 2)
    stopped.stop()
    assert stopped.join(30)
    gc.collect()
    assert len(refs) == 6 and all(r() is None for r in refs)                # the jobs stay in the registry
    assert registry.get("alice") is job and job.status().snapshot is not None and job.status().history


def test_a_stopped_run_reports_whole_epochs_and_the_partial_one(tmp_path):
    class StopAt(Callback):
        def on_step_end(self, trainer) -> None:
            if trainer.state.step == 33:                                   # 30 steps per epoch: 3 into epoch 2
                job.stop()

    job = runs.TrainingJob(tiny_config(), run_train_config(epochs=5), tmp_path / "run", callbacks=[StopAt()]).start()
    assert job.join(180)
    s = job.status()
    assert s.state == "stopped" and s.epoch == 1 and s.step == 33 and s.steps_per_epoch == 30
    assert s.epoch_steps == 3
    assert "stopped in epoch 2 after 3 of its 30 steps" in s.message and "1 epoch complete" in s.message
    assert [h["epoch"] for h in s.history] == [1, pytest.approx(1.1)]      # the partial epoch is a point too
    assert s.history[-1]["partial"] and s.history[-1]["step"] == 33
    assert math.isfinite(s.history[-1]["loss_reconstruction"])


def test_a_run_stopped_in_its_first_epoch_has_a_history_point(tmp_path):
    class StopAt(Callback):
        def on_step_end(self, trainer) -> None:
            if trainer.state.step == 4:
                job.stop()

    job = runs.TrainingJob(tiny_config(), run_train_config(epochs=1), tmp_path / "run", callbacks=[StopAt()]).start()
    assert job.join(180)
    s = job.status()
    assert s.state == "stopped" and s.epoch == 0 and s.epoch_steps == 4
    assert "stopped in epoch 1 after 4 of its 30 steps" in s.message and "no epoch complete" in s.message
    assert [h["epoch"] for h in s.history] == [pytest.approx(4 / 30)]


def test_the_status_reports_the_measured_speed_and_the_time_left(tmp_path):
    rates: list = []

    class Watch(Callback):
        def on_step_end(self, trainer) -> None:
            if trainer.state.step == 45:                                 # the window must see wall time:
                time.sleep(runs.LiveCallback.RATE_MIN_S + 0.2)    # on a quiet machine 50 steps take less
            if trainer.state.step == 50:
                s = job.status()
                rates.append((s.steps_per_s, s.images_per_s, s.seconds_left, s.total_steps - s.step))

    job = runs.TrainingJob(tiny_config(), run_train_config(epochs=3), tmp_path / "run", callbacks=[Watch()]).start()
    assert job.join(180)
    [(rate, images, left, remaining)] = rates
    assert rate > 0 and images == pytest.approx(rate * 20)
    assert left == pytest.approx(remaining / rate)
    s = job.status()
    assert s.steps_per_s and s.steps_per_s > 0 and s.seconds_left == 0


def test_the_registry_makes_its_runs_through_its_job_factory(tmp_path):
    """The seam between the queue and how a run executes: the registry builds jobs only through make_job."""
    made: list = []

    def make(*args, **kwargs):
        made.append(runs.TrainingJob(*args, **kwargs))
        return made[-1]

    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=make)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=1))
    assert made == [job] and job.join(180) and job.status().state == "finished"


def test_a_finished_run_above_2d_starts_the_umap_worker_for_its_map(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(umap_worker.WORKER, "start", lambda: started.append(True))
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1)
    flat = registry.start("alice", tiny_config(), run_train_config(epochs=1))          # 2-D: its map needs no UMAP
    assert flat.join(180) and flat.status().state == "finished"
    wait_for(lambda: not registry.running())
    assert started == []
    deep = registry.start("bob", tiny_config("vae", latent_dim=3), run_train_config(epochs=1))
    assert deep.join(180) and deep.status().state == "finished"
    wait_for(lambda: started == [True])
