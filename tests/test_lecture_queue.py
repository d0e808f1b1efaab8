"""The training queue against a real server (`streamlit run app.py`, Streamlit's websocket protocol as in
benchmarks/lecture_hall.py): a student who closes their tab does not keep the machine. With Streamlit's
reconnect time cut to 2 s: the running run of a student who left is stopped and saved once someone waits, and a
waiting run whose student left is not started when its turn comes; each says why when its student returns."""

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
        await asyncio.sleep(RECONNECT_S + 1)
        deadline, text = time.monotonic() + 120, ""
        while time.monotonic() < deadline:           # bob watches his place; his page's visits tend the queue
            run, _ = await bob.rerun("train")
            text = " | ".join(run.texts)
            if "stop_run" in run.ids:                # his run has started: ann's made room
                break
            await asyncio.sleep(1.0)
        assert "stop_run" in run.ids, text
        await bob.rerun("train", [_widget(run.ids["stop_run"], trigger_value=True)])
        while time.monotonic() < deadline and "stop_run" in run.ids:   # bob's run ends: cat's turn, cat is gone
            await asyncio.sleep(1.0)
            run, _ = await bob.rerun("train")
        assert "stop_run" not in run.ids and "Stopped to make room" not in " | ".join(run.texts)
        await asyncio.sleep(2.0)                     # the ended run's bookkeeping hands the trainer on
        cat_text = await _train_page(server, queries["cat"], stats)   # (cat back only now: earlier, she'd be here)
        ann_text = await _train_page(server, queries["ann"], stats)
        await bob.close()
        return stats, ann_text, cat_text

    stats, ann_text, cat_text = asyncio.run(lecture())
    assert not stats["errors"], stats["errors"]
    assert "Stopped to make room: this browser had been closed for over" in ann_text, ann_text
    assert "Left the queue when its turn came" in cat_text and "Press Start to queue it again" in cat_text, cat_text
    assert "in the queue" not in cat_text
