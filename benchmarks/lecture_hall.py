"""A lecture hall on one server: N sessions explore the latent map and the decoder sliders while one
training run goes and three more wait in the queue. Writes results/lecture_hall_cpu.json.

    python -m benchmarks.lecture_hall [--sessions 20] [--seconds 150] [--trainers 4]

The sessions are clients that speak Streamlit's own websocket protocol (the BackMsg / ForwardMsg protobufs
of /_stcore/stream, the way the browser's frontend does): each opens a real server session, sends the widget
states a browser would send (a plotly selection for a click on the map, a slider value in the sliders' fragment,
the Train page's fields and its Start button), reads every ForwardMsg the server sends back, and fetches the
decoded image from /media over HTTP as the browser would. Not headless Chromium: 20 Chromium pages on a
2-core machine, each drawing a 10k-point WebGL scatter with software rendering (there is no GPU), would
measure the browsers fighting the server for the two cores rather than the server. So the latencies here
are the server's (click sent -> image bytes received), without the browser's drawing: benchmarks/app_latency
measures that part in a real browser for one session.

What it reports: p50/p95 of click -> decoded image and slider move -> decoded image, the errors (exceptions
in the app's output, timeouts, broken connections: should be 0), the server's RSS (/proc/PID/status) before
the sessions come, at its peak and after they left and the runs ended, and the trainers' sessions: the queue
position each saw and the order their runs started in (expected: the order they pressed Start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks._common import write_result
from benchmarks.app_latency import _start_server, _stop

REPO = Path(__file__).resolve().parents[1]
ENCODED = 0            # explorer.figures.ENCODED: customdata source of an encoded test image
TIMEOUT_S = 60.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Run:
    """What one script run sent back: widget ids by key, texts, images (caption -> url), fragment ids."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.fragments: dict[str, str] = {}      # widget key -> the fragment it was drawn in
        self.texts: list[str] = []
        self.images: dict[str, str] = {}
        self.exceptions: list[str] = []
        self.query: str | None = None

    def add(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        if kind != "delta" or msg.delta.WhichOneof("type") != "new_element":
            return
        el = msg.delta.new_element
        what = el.WhichOneof("type")
        if what in ("button", "number_input", "select_slider", "slider", "plotly_chart", "selectbox"):
            wid = getattr(el, what).id
            key = wid.rsplit("-", 1)[-1] if wid.startswith("$$ID") else wid
            self.ids[key] = wid
            if msg.delta.fragment_id:
                self.fragments[key] = msg.delta.fragment_id
        elif what == "imgs":
            for im in el.imgs.imgs:
                self.images[im.caption] = im.url
        elif what == "progress":
            self.texts.append(el.progress.text)
        elif what == "alert":
            self.texts.append(el.alert.body)
        elif what == "markdown":
            self.texts.append(el.markdown.body)
        elif what == "exception":
            self.exceptions.append(f"{el.exception.type}: {el.exception.message}")


class Session:
    """One browser session, spoken to over Streamlit's websocket protocol."""

    def __init__(self, url: str, stats: dict) -> None:
        self.url, self.stats = url, stats
        self.query = ""
        self.ws = None

    async def open(self) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=TIMEOUT_S)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def rerun(self, page: str, widgets=(), fragment_id: str = "", until: str | None = None) -> tuple[Run, float]:
        """Send a rerun of `page` with these widget states; read until the run ends. Returns the run and the
        seconds until the image captioned `until` arrived (its bytes fetched), else until the run ended."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string, cs.page_name = self.query, page
        if fragment_id:
            cs.fragment_id = fragment_id
        for w in widgets:
            cs.widget_states.widgets.append(w)
        run, got = Run(), None
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT_S)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            run.add(fwd)
            if until is not None and got is None and until in run.images:
                await asyncio.to_thread(_fetch, self.url + "/" + run.images[until].lstrip("/"))
                got = time.perf_counter() - t0
            if fwd.WhichOneof("type") == "script_finished":
                break
        if run.query is not None:
            self.query = run.query
        if run.exceptions:
            self.stats["errors"].append(run.exceptions[0])
        if until is not None and got is None:
            self.stats["errors"].append(f"no image {until!r} on {page}")
        return run, (got if got is not None else time.perf_counter() - t0)


def _fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        return len(resp.read())


def _widget(wid: str, **value):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    w = WidgetState(id=wid)
    for k, v in value.items():
        if k == "double_array_value":
            w.double_array_value.data.extend(v)
        elif k == "string_array_value":
            w.string_array_value.data.extend(v)
        else:
            setattr(w, k, v)
    return w


async def viewer(url: str, stats: dict, deadline: float, seed: int) -> None:
    """Clicks test points on the latent map (3 in a row), then moves a decoder slider (3 times), and again."""
    rng = random.Random(seed)
    s = Session(url, stats)
    try:
        await s.open()
        await s.rerun("latent_map")
        while time.monotonic() < deadline:
            run, _ = await s.rerun("latent_map")
            chart = run.ids.get("latent_map_chart")
            if chart is None:
                stats["errors"].append("no latent map chart")
                return
            for _ in range(3):
                i = rng.randrange(2000)
                point = {"curve_number": 0, "point_number": i, "point_index": i, "x": 0.0, "y": 0.0,
                         "customdata": [ENCODED, i, -1]}
                sel = {"selection": {"points": [point], "point_indices": [i], "box": [], "lasso": []}}
                w = _widget(chart, string_value=json.dumps(sel))               # plotly_chart's state is a string
                _, dt = await s.rerun("latent_map", [w], until="Reconstruction")
                stats["click_s"].append(dt)
                await asyncio.sleep(rng.uniform(0.5, 1.5))           # a student looks at the image
            run, _ = await s.rerun("sliders")
            key = next((k for k in run.ids if re.fullmatch(r"slider_[0-9a-f]+_0", k)), None)
            if key is None:
                stats["errors"].append("no slider")
                continue
            for _ in range(3):
                w = _widget(run.ids[key], double_array_value=[rng.uniform(-2, 2)])
                _, dt = await s.rerun("sliders", [w], fragment_id=run.fragments.get(key, ""), until="Decoded image")
                stats["slider_s"].append(dt)
                await asyncio.sleep(rng.uniform(0.3, 1.0))
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
        stats["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        await s.close()


async def trainer(url: str, stats: dict, name: str, start_at: float, deadline: float, run_s: float,
                  turn: asyncio.Event | None = None, done: asyncio.Event | None = None) -> None:
    """Opens the Train page, presses Start (the page's default recipe) at start_at, then watches the page
    every 2 s: its place in the queue, when its run starts; after run_s of training it presses Stop, as a
    student who has seen enough would, so that the next run in the queue starts."""
    s = Session(url, stats)
    seen = stats["trainers"].setdefault(name, {"positions": [], "started": None, "ended": None, "pressed": None})
    try:
        await s.open()
        run, _ = await s.rerun("train")
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        if turn is not None:        # press after the previous trainer's press reached the server: the order of
            await turn.wait()       # the presses is then the order the server received them in
        seen["pressed"] = time.monotonic()
        try:
            await s.rerun("train", [_widget(run.ids["start_run"], trigger_value=True)])
        finally:
            if done is not None:
                done.set()
        stopped = False
        while time.monotonic() < deadline:
            run, _ = await s.rerun("train")
            text = " | ".join(run.texts)
            seen["last"] = text[-300:]
            m = re.search(r"(\d+)(?:st|nd|rd|th) in the queue", text)
            if m:
                seen["positions"].append(int(m.group(1)))
            elif seen["started"] is None and re.search(r"epoch \d+ of \d+ ·|epochs complete|loading", text):
                seen["started"] = time.monotonic()
            if "epochs complete" in text or "Training diverged" in text or "training failed" in text:
                seen["ended"] = time.monotonic()
                seen["final"] = next((t for t in run.texts if "complete" in t), "")
                return
            ran = time.monotonic() - (seen["started"] or time.monotonic())
            if not stopped and ran >= run_s and "stop_run" in run.ids:
                await s.rerun("train", [_widget(run.ids["stop_run"], trigger_value=True)])
                stopped = True
                continue
            await asyncio.sleep(2.0)
        if "stop_run" in run.ids:                                      # out of time: stop it
            await s.rerun("train", [_widget(run.ids["stop_run"], trigger_value=True)])
        elif "leave_queue" in run.ids:
            await s.rerun("train", [_widget(run.ids["leave_queue"], trigger_value=True)])
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException, KeyError) as exc:
        stats["errors"].append(f"trainer {name}: {type(exc).__name__}: {exc}")
    finally:
        await s.close()


async def hall(url: str, pid: int, args) -> dict:
    stats: dict = {"errors": [], "click_s": [], "slider_s": [], "trainers": {}, "rss_mb": []}
    t0 = time.monotonic()
    deadline = t0 + args.seconds

    async def sample_rss() -> None:
        while True:
            stats["rss_mb"].append(rss_mb(pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_rss())
    pressed = [asyncio.Event() for _ in range(args.trainers)]
    trainers = [trainer(url, stats, f"T{i + 1}", t0 + 5 + 2 * i, deadline + args.drain, args.run_seconds,
                        turn=pressed[i - 1] if i else None, done=pressed[i])
                for i in range(args.trainers)]
    viewers = [viewer(url, stats, deadline, seed) for seed in range(args.sessions)]
    await asyncio.gather(*viewers, *trainers)
    sampler.cancel()
    return stats


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=20, help="sessions exploring the map and the sliders")
    p.add_argument("--trainers", type=int, default=4, help="sessions that each start a run (one trains, the rest wait)")
    p.add_argument("--seconds", type=float, default=150, help="how long the sessions explore")
    p.add_argument("--drain", type=float, default=30, help="extra seconds for the last runs to end")
    p.add_argument("--run-seconds", type=float, default=30, help="each run trains this long, then is stopped")
    p.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AAE_CHECKPOINTS_DIR": args.checkpoints, "AAE_RUNS_DIR": str(Path(tmp) / "runs"),
               "AAE_CACHE_DIR": str(Path(tmp) / "cache")}
        proc, url = _start_server(env, Path(tmp) / "server.log")
        try:
            async def warm() -> None:                      # the model, test set and map loaded once
                s = Session(url, {"errors": []})
                await s.open()
                await s.rerun("latent_map")
                await s.close()

            asyncio.run(warm())
            time.sleep(2)
            before = rss_mb(proc.pid)
            stats = asyncio.run(hall(url, proc.pid, args))
            time.sleep(3)
            after = rss_mb(proc.pid)
        finally:
            _stop(proc)
        log_tail = (Path(tmp) / "server.log").read_text()[-3000:]
    trainers = stats["trainers"]
    pressed = sorted(trainers, key=lambda n: trainers[n]["pressed"] or float("inf"))
    started = sorted((n for n in trainers if trainers[n]["started"]), key=lambda n: trainers[n]["started"])
    result = {
        "client": "Streamlit websocket protocol (BackMsg/ForwardMsg), not Chromium; see the docstring",
        "sessions": args.sessions, "trainer_sessions": args.trainers, "seconds": args.seconds,
        "run_seconds": args.run_seconds,
        "max_trainings": os.environ.get("AAE_MAX_TRAININGS") or max(1, (os.cpu_count() or 1) // 2),
        "clicks": len(stats["click_s"]), "click_to_image_p50_s": pct(stats["click_s"], 50),
        "click_to_image_p95_s": pct(stats["click_s"], 95),
        "slider_moves": len(stats["slider_s"]), "slider_to_image_p50_s": pct(stats["slider_s"], 50),
        "slider_to_image_p95_s": pct(stats["slider_s"], 95),
        "errors": len(stats["errors"]), "error_samples": stats["errors"][:5],
        "server_rss_mb": {"before": round(before, 1), "peak": round(max(stats["rss_mb"], default=before), 1),
                          "after": round(after, 1)},
        "runs_started_in_order": started == pressed[:len(started)],
        "runs_started": f"{len(started)} of {len(trainers)}",
        "queue": {n: {"positions_seen": sorted(set(t["positions"]), reverse=True),
                      "waited_s": round(t["started"] - t["pressed"], 1) if t["started"] else None,
                      "ran_s": round(t["ended"] - t["started"], 1) if t["ended"] and t["started"] else None,
                      "last_seen": t.get("final") or t.get("last", "")}
                  for n, t in trainers.items()},
    }
    if stats["errors"]:
        result["server_log_tail"] = log_tail
    write_result("lecture_hall_cpu", result)
    print(json.dumps({k: v for k, v in result.items() if k != "server_log_tail"}, indent=2))


if __name__ == "__main__":
    main()
