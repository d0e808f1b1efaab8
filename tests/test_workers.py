"""Runs in worker processes (explorer.runs.worker): they train outside this process at a lower priority,
stop and save, a killed worker is one line and leaves its checkpoint, the queue keeps its order, the per-run
time limit, the server's shutdown (SIGTERM) stops and saves, the server-wide caps on stored runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import assert_trained, run_train_config, tiny_config, two_epoch_run, wait_for

import aae_core
from explorer import runs, settings

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("fake_data")      # every run reads the fake MNIST


def test_a_run_trains_in_a_worker_process_and_reports_what_the_page_draws(tmp_path):
    out = tmp_path / "run"
    job, s = two_epoch_run(runs.WorkerJob, out, timeout=120)
    assert s.state == "finished" and s.epoch == 2 and s.step == s.total_steps == 10, s.message
    assert job.process is not None and job.process.pid != os.getpid()
    assert [h["epoch"] for h in s.history] == [1, 2] and s.losses
    assert s.snapshot is not None and s.snapshot.xy.shape == (50, 2) and s.snapshot.step == s.step
    assert not [t for t in threading.enumerate() if t.name.startswith("aae-train")]   # no training thread here
    assert_trained(out, tiny_config("supervised"))


def test_stop_saves_and_ends_and_the_worker_runs_at_a_lower_priority(tmp_path):
    job = runs.WorkerJob(tiny_config(), run_train_config(epochs=500), tmp_path / "run").start()
    wait_for(lambda: job.status().step >= 3)
    assert os.getpriority(os.PRIO_PROCESS, job.process.pid) > os.getpriority(os.PRIO_PROCESS, 0)
    job.stop()
    assert job.join(180)
    s = job.status()
    assert s.state == "stopped" and 3 <= s.step < s.total_steps and s.has_checkpoint, s.message
    assert aae_core.checkpoint.read_config(tmp_path / "run")["progress"]["step"] == s.step
    assert job.process.exitcode == 0


def test_a_killed_worker_is_one_line_and_its_last_checkpoint_loads(tmp_path):
    out = tmp_path / "run"
    job = runs.WorkerJob(tiny_config(), run_train_config(epochs=500), out).start()
    wait_for(lambda: job.status().has_checkpoint)                  # an epoch saved
    os.kill(job.process.pid, signal.SIGKILL)
    assert job.join(30)
    s = job.status()
    assert s.state == "failed" and "\n" not in s.message
    assert "killed (SIGKILL)" in s.message and "last good checkpoint (epoch" in s.message
    assert aae_core.checkpoint.read_config(out)["progress"]["epoch"] >= 1
    aae_core.load(out)


def test_the_queue_starts_worker_runs_in_order(tmp_path):
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1)
    by_user = {u: registry.start(u, tiny_config(), run_train_config(epochs=500)) for u in "abc"}
    assert all(isinstance(j, runs.WorkerJob) for j in by_user.values())
    wait_for(lambda: by_user["a"].status().state == "running")
    assert [by_user[u].status().queue_position for u in "bc"] == [1, 2]
    for user, following in (("a", "b"), ("b", "c"), ("c", None)):
        assert registry.stop(user) and by_user[user].join(180)
        assert by_user[user].status().state == "stopped"
        if following:
            wait_for(lambda following=following: by_user[following].status().state == "running")
    starts = [by_user[u].status().started for u in "abc"]
    assert starts == sorted(starts) and len({j.process.pid for j in by_user.values()}) == 3


def test_a_run_past_the_time_limit_saves_and_ends_as_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.TIME_LIMIT_ENV, "0.03")            # 1.8 s of training
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=500))
    assert job.join(180)
    s = job.status()
    assert s.state == "stopped" and s.step > 0 and s.has_checkpoint, s.message
    assert "time limit of 2 s per run" in s.message and "\n" not in s.message
    assert aae_core.checkpoint.read_config(job.out)["progress"]["step"] == s.step


def test_the_new_settings_are_checked(monkeypatch):
    monkeypatch.delenv(settings.TIME_LIMIT_ENV, raising=False)
    assert settings.run_time_limit_s() == settings.DEFAULT_TIME_LIMIT_MIN * 60
    monkeypatch.setenv(settings.TIME_LIMIT_ENV, "0")
    assert settings.run_time_limit_s() is None
    monkeypatch.setenv(settings.TIME_LIMIT_ENV, "1.5")
    assert settings.run_time_limit_s() == 90
    for name, bad in ((settings.TIME_LIMIT_ENV, "-1"), (settings.TIME_LIMIT_ENV, "soon"),
                      (settings.SERVER_RUNS_ENV, "0"), (settings.SERVER_QUOTA_ENV, "lots")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            {settings.TIME_LIMIT_ENV: settings.run_time_limit_s, settings.SERVER_RUNS_ENV: settings.server_max_runs,
             settings.SERVER_QUOTA_ENV: settings.server_quota_bytes}[name]()
        monkeypatch.delenv(name)


_SERVER = """
import signal, sys, threading, time
sys.path[:0] = [{repo!r}, {tests!r}]
from conftest import run_train_config, tiny_config
from explorer import runs

ended = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: ended.set())   # as Streamlit's handler: it ends the server's loop
job = runs.REGISTRY.start("alice", tiny_config(), run_train_config(epochs=500))
while job.status().step < 3:
    assert not job.done, job.status().message
    time.sleep(0.05)
print(job.out, flush=True)
ended.wait()
"""


def test_sigterm_to_the_server_stops_and_saves_its_runs_and_exits_0(tmp_path, fake_mnist_dir):
    env = {**os.environ, "AAE_RUNS_DIR": str(tmp_path / "runs"), "AAE_DATA_DIR": fake_mnist_dir,
           "OMP_NUM_THREADS": "1"}
    script = textwrap.dedent(_SERVER.format(repo=str(REPO), tests=str(REPO / "tests")))
    server = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        out = Path(server.stdout.readline().strip())
        assert out.name, server.stderr.read()
        server.send_signal(signal.SIGTERM)
        assert server.wait(180) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
    meta = aae_core.checkpoint.read_config(out)
    assert meta["app_user"] == "alice" and meta["progress"]["step"] >= 3
    aae_core.load(out)


def _app_run(root: Path, name: str, owner: str, age_s: float) -> Path:
    folder = aae_core.save(aae_core.build_model(tiny_config()), root / name, extra={"app_user": owner})
    when = time.time() - age_s
    for f in (folder / "config.json", folder):
        os.utime(f, (when, when))
    return folder


def test_the_server_keeps_at_most_n_app_runs_of_all_users_oldest_first(tmp_path, monkeypatch):
    for i, owner in enumerate("bcbcb"):                             # run0 is the oldest
        _app_run(tmp_path, f"run{i}", owner, age_s=1000 - i)
    cli = tmp_path / "cli_run"                                      # a command-line run: not the app's
    aae_core.save(aae_core.build_model(tiny_config()), cli)
    os.utime(cli / "config.json", (0, 0))
    monkeypatch.setenv(settings.SERVER_RUNS_ENV, "4")
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=runs.TrainingJob)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=1))
    assert job.join(180) and job.status().state == "finished"
    s = job.status()
    assert s.server_evicted == ("run0", "run1") and s.evicted == ()
    assert [p.name for p in runs.stored_runs(tmp_path, None)] == ["run2", "run3", "run4", job.out.name]
    assert cli.is_dir()


def test_the_server_wide_disk_cap_removes_the_oldest_runs_of_anyone(tmp_path, monkeypatch):
    old = _app_run(tmp_path, "old", "bob", age_s=500)
    new = _app_run(tmp_path, "new", "carol", age_s=100)
    size = runs.folder_bytes(old)
    monkeypatch.setenv(settings.SERVER_QUOTA_ENV, str(2.5 * size / settings.MB))   # two tiny runs fit, not three
    registry = runs.JobRegistry(root=lambda: tmp_path, max_running=1, make_job=runs.TrainingJob)
    job = registry.start("alice", tiny_config(), run_train_config(epochs=1))
    assert job.join(180) and job.status().state == "finished"
    assert not old.exists() and job.out.exists() and job.status().server_evicted[0] == "old"
    assert sum(runs.folder_bytes(p) for p in runs.stored_runs(tmp_path, None)) <= 2.5 * size or not new.exists()


def test_a_worker_never_runs_the_page_that_another_thread_made_main(tmp_path):
    """Streamlit sets sys.modules["__main__"] to the page being run at the start of every rerun, in that
    session's own thread; spawn re-runs the parent's __main__ in the child. A worker started while other
    sessions rerun must train, not run their page script (found by CI: the Train page's run ended 'failed'
    because the child ran app.py)."""
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('the page script ran in the worker')\n")
    import types
    stop = threading.Event()

    def rerun_pages():
        while not stop.is_set():
            module = types.ModuleType("__main__")
            module.__file__ = str(page)
            sys.modules["__main__"] = module
            time.sleep(0.0005)

    saved = sys.modules["__main__"]
    rerunner = threading.Thread(target=rerun_pages, daemon=True)
    rerunner.start()
    try:
        job = runs.WorkerJob(tiny_config(), run_train_config(epochs=1), tmp_path / "run").start()
        assert job.join(120)
    finally:
        stop.set()
        rerunner.join()
        sys.modules["__main__"] = saved
    s = job.status()
    assert s.state == "finished", s.message
