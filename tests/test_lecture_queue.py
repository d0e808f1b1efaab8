"""The training queue against a real server (`streamlit run app.py`, Streamlit's websocket protocol as in
benchmarks/lecture_hall.py): a student who closes their tab does not keep the machine. With Streamlit's
reconnect time cut to 2 s: the running run of a student who left is stopped and saved for one who waits, a
waiting run whose student left leaves the queue, and a student who reloads keeps their place; each who left
reads why when they return."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from benchmarks._common import start_app, stop_app
from benchmarks.lecture_hall import Session, _widget

REPO = Path(__file__).resolve().parents[1]
RECONNECT_S = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_mnist_dir):
    root = tmp_path_factory.mktemp("lecture_queue")
    (root / "checkpoints").mkdir()
    env = {**os.environ, "AAE_CHECKPOINTS_DIR": str(root / "checkpoints"), "AAE_RUNS_DIR": str(root / "runs"),
           "AAE_DATA_DIR": fake_mnist_dir, "AAE_CACHE_DIR": str(root / "cache"), "OMP_NUM_THREADS": "1",
           "AAE_MAX_TRAININGS": "1", "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(RECONNECT_S)}
    proc, url = start_app(env, root / "server.log", REPO)
    try:
        yield url
    finally:
        stop_app(proc)


async def _start(s: Session) -> None:
    """Press Start for a long run (500 epochs: it ends only when stopped)."""
    run, _ = await s.rerun("train")
    await s.rerun("train", [_widget(run.ids["train_epochs"], int_value=500),
                            _widget(run.ids["start_run"], trigger_value=True)])


async def _train_page(url: str, query: str, stats: dict) -> str:
    """The Train page's texts as the student with this link sees it (a new session: a reload)."""
    s = Session(url, stats)
    s.query = query
    await s.open()
    try:
        run, _ = await s.rerun("train")
        return " | ".join(run.texts)
    finally:
        await s.close()


def test_a_student_who_left_gives_up_the_trainer_and_reads_why_on_return(server):
    async def lecture():
        stats = {"errors": []}
        ann, bob, cat = (Session(server, stats) for _ in range(3))
        for s in (ann, bob, cat):
            await s.open()
            await _start(s)                          # ann trains; bob, then cat, wait
        run, _ = await cat.rerun("train")
        assert "2nd in the queue" in " | ".join(run.texts)
        queries = {"ann": ann.query, "cat": cat.query}
        await ann.close()                            # ann's laptop closes while her run trains
        await cat.close()                            # cat leaves while waiting
        await bob.close()                            # bob reloads: a new session with his link
        link = bob.query
        bob = Session(server, stats)
        bob.query = link
        await bob.open()
        run, _ = await bob.rerun("train")
        live = run.fragments["leave_queue"]          # his page's live view, which his browser polls every second
        deadline, text = time.monotonic() + 120, ""
        while time.monotonic() < deadline and "stop_run" not in run.ids:
            await asyncio.sleep(1.0)
            run, _ = await bob.rerun("train", fragment_id=live)
            text = " | ".join(run.texts)
        assert "stop_run" in run.ids, text           # bob, still here, got the trainer: ann made room, cat left
        await bob.rerun("train", [_widget(run.ids["stop_run"], trigger_value=True)])
        cat_text = await _train_page(server, queries["cat"], stats)
        ann_text = await _train_page(server, queries["ann"], stats)
        await bob.close()
        return stats, ann_text, cat_text

    stats, ann_text, cat_text = asyncio.run(lecture())
    assert not stats["errors"], stats["errors"]
    assert "Stopped to make room: this browser had left" in ann_text, ann_text
    assert "Left the queue: this browser had left" in cat_text and "Start a new run below" in cat_text, cat_text
    assert "in the queue" not in cat_text
