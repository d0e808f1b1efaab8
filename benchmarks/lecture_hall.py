"""A lecture hall on one server: N sessions explore the latent map and the decoder sliders, a few real Chromium
pages hover over the map and drag the sliders (decoding in the browser), while one training run goes and three more
wait in the queue. Writes results/lecture_hall_<sessions>.json.

    python -m benchmarks.lecture_hall --sessions 20 --browsers 3 --seconds 90 [--trainers 4] [--out NAME]

First, before anyone else comes, one run trains alone for --run-seconds (the solo speed); then the hall;
then the solo run again (the solo speed is the mean of the two: on shared cores one figure can be off by half).

The sessions are clients that speak Streamlit's own websocket protocol (the BackMsg / ForwardMsg protobufs
of /_stcore/stream, the way the browser's frontend does): each opens a real server session, sends the widget
states a browser would send (a plotly selection for a click on the map, a slider value in the sliders' fragment,
the Train page's fields and its Start button), reads every ForwardMsg the server sends back, and fetches the
decoded image from /media over HTTP as the browser would. They send no browser's User-Agent, so the pages serve
them the server path (st.plotly_chart, decoding on the server): their clicks and slider moves are the interactions
that need the server, timed from the message sent to the image's bytes received.

The --browsers pages are real Chromium (Playwright, /usr/bin/chromium, software GL: there is no GPU), on which the
pages draw the map component (explorer/map_view.py) that decodes in the browser: each page hovers over test points
of the Latent map, clicks one (a server rerun), then drags the Decoder sliders, and again. The in-browser decode
latency (pointer or slider input event -> new image drawn) comes from the frame's window.aaeStats.times; the
websocket frames a page sends while hovering are counted (expected 0). Chromium pages are heavy on 2 cores (each
draws a 10k-point WebGL scatter in software and runs the decoder in WebAssembly), so keep them few (3): more
would measure the browsers fighting the server for the cores rather than the server.

What it reports: p50/p95 of the in-browser decodes (hover, slider drag), of the server's click -> image and
slider move -> image, the training run's steps/s during the hall against its solo steps/s (the ratio; target
>= 0.5), the errors (exceptions in the app's output, timeouts, broken connections, page errors: should be 0),
the server's RSS summed over it and its child processes (training may run in a child) before the sessions come,
at its peak, after they left and the runs ended, and again once Streamlit may drop the sessions that left
(--expire-wait), and the trainers' sessions: the queue position each saw and
the order their runs started in (expected: the order they pressed Start).
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

from benchmarks._common import READY, REPO, launch_chromium, start_app, stop_app, write_result
from benchmarks.browser_decode import DRAWN, POINTS

ENCODED = 0            # explorer.figures.ENCODED: customdata source of an encoded test image
TIMEOUT_S = 60.0


FRAME = "map_view.latent_map/"   # in the URL of the map component's frame (the map and the sliders)


def rss_by_process(pid: int) -> dict[str, float]:
    """RSS in MB of the process pid ("server") and of every process under it (training and UMAP workers), by
    'name pid'."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text().splitlines()
            name = "server" if p == pid else f"{Path(f'/proc/{p}/comm').read_text().strip()} {p}"
            out[name] = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, StopIteration):        # it ended meanwhile
            continue
    return out


def rss_mb(pid: int) -> float:
    """RSS of the process pid and every process under it (training may run in a child), in MB."""
    return sum(rss_by_process(pid).values())


class Run:
    """What one script run sent back: widget ids by key, texts, images (caption -> url), fragment ids."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.fragments: dict[str, str] = {}      # widget key -> the fragment it was drawn in
        self.texts: list[str] = []
        self.images: dict[str, str] = {}
        self.exceptions: list[str] = []
        self.query: str | None = None
        self.bytes = 0                           # of the ForwardMsgs the run sent

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
            run.bytes += len(raw)
            run.add(fwd)
            if until is not None and got is None and until in run.images:
                await asyncio.to_thread(_fetch, self.url + "/" + run.images[until].lstrip("/"))
                got = time.perf_counter() - t0
            if fwd.WhichOneof("type") == "script_finished" and fwd.script_finished != fwd.FINISHED_EARLY_FOR_RERUN:
                break   # (a callback's st.rerun of fragments ends the run early: the fragments' run follows)
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
                reply, dt = await s.rerun("latent_map", [w], until="Reconstruction")
                stats["click_s"].append(dt)
                stats["click_kb"].append(reply.bytes / 1000)
                stats["clicks_resending_the_map"] += "latent_map_chart" in reply.ids
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


async def component_frame(page):
    """The map component's frame on this page, once its model is loaded."""
    await page.wait_for_selector(READY, timeout=TIMEOUT_S * 3000)
    while not (frames := [f for f in page.frames if FRAME in f.url]):
        await page.wait_for_timeout(100)
    await frames[0].wait_for_function("() => window.aaeStats && window.aaeStats.ready", timeout=TIMEOUT_S * 3000)
    return frames[0]


async def switch_page(page, url: str, name: str, navigate: str, old=None):
    """Go to the app's page `name` as a student does: by its link in the sidebar (the app stays loaded; only the
    page's script and its frames are new), or with navigate="reload" by loading its URL (the whole app starts
    again in the browser: 2-3 s of CPU in a software-rendered Chromium). Returns the new page's map frame."""
    if navigate == "reload":
        await page.goto(f"{url}/{name}", wait_until="commit", timeout=TIMEOUT_S * 3000)
    else:
        await page.locator(f'[data-testid="stSidebarNavLink"][href$="{name}"]').click(timeout=TIMEOUT_S * 3000)
        while old is not None and not old.is_detached():        # the last page's frame goes first
            await page.wait_for_timeout(100)
    return await component_frame(page)


async def browser_page(browser, url: str, stats: dict, clock: dict, seed: int, loaded: asyncio.Event,
                       go: asyncio.Event, navigate: str = "sidebar") -> None:
    """A real Chromium page: on the Latent map it sweeps the pointer over test points (30, a student's look
    around), clicks one, then on Decoder sliders drags the first two sliders end to end (a pass started before
    the deadline ends), and again. The frame's
    decode times go to stats (hover_ms, slider_ms); websocket frames sent while hovering to hover_frames_sent.
    The first map is loaded before the hall starts (sets `loaded`; the hall then sets `go` and clock["deadline"]):
    a first visit fetches the bundles and the decoder, which under the crowd's load is not what is measured."""
    rng = random.Random(1000 + seed)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    sent: list[int] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(len(payload))))
    page.on("pageerror", lambda exc: stats["errors"].append(f"browser {seed}: page error: {exc}"))
    first = True
    try:
        frame = None
        while first or time.monotonic() < clock["deadline"]:
            if not first:                    # a page load waits behind the crowd's script runs: allow for it
                frame = await switch_page(page, url, "latent_map", navigate, frame)
            else:
                await page.goto(f"{url}/latent_map", timeout=TIMEOUT_S * 3000)
                frame = await component_frame(page)
            if first:
                first = False
                loaded.set()
                await go.wait()
            await frame.wait_for_function(DRAWN, timeout=TIMEOUT_S * 1000)
            box = await page.locator("iframe[title*='latent_map']").bounding_box()
            points = await frame.evaluate(POINTS, 400)
            rng.shuffle(points)
            await frame.evaluate("() => { window.aaeStats.times.length = 0; }")
            before = len(sent)
            for x, y in points[:30]:
                await page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
                await page.wait_for_timeout(rng.uniform(30, 120))
            await page.wait_for_timeout(300)
            stats["hover_frames_sent"] += len(sent) - before
            stats["hover_ms"] += await frame.evaluate("() => window.aaeStats.times")
            x, y = points[0]
            await page.mouse.click(box["x"] + x, box["y"] + y)          # selects the point: a server rerun
            stats["browser_clicks"] += 1
            await page.wait_for_timeout(1000)
            frame = await switch_page(page, url, "sliders", navigate, frame)
            await frame.evaluate("() => { window.aaeStats.times.length = 0; }")
            for i in range(2):
                r = await frame.locator("input[type=range]").nth(i).bounding_box()
                y = r["y"] + r["height"] / 2
                await page.mouse.move(r["x"] + 2, y)
                await page.mouse.down()
                for k in range(1, 41):                                  # a slow drag, end to end
                    await page.mouse.move(r["x"] + 2 + (r["width"] - 4) * k / 40, y)
                    await page.wait_for_timeout(25)
                await page.mouse.up()                                   # let go: the server hears of it
                await page.wait_for_timeout(500)
            stats["slider_ms"] += await frame.evaluate("() => window.aaeStats.times")
    except Exception as exc:  # noqa: BLE001 - a page that broke is an error of the hall, counted and shown
        stats["errors"].append(f"browser {seed}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        loaded.set()
        await context.close()


async def trainer(url: str, stats: dict, name: str, start_at: float, deadline: float, run_s: float,
                  turn: asyncio.Event | None = None, done: asyncio.Event | None = None) -> None:
    """Opens the Train page, presses Start (the page's default recipe) at start_at, then watches the page
    every 2 s: its place in the queue, when its run starts; after run_s of training it presses Stop, as a
    student who has seen enough would, so that the next run in the queue starts."""
    s = Session(url, stats)
    seen = stats["trainers"].setdefault(name, {"positions": [], "started": None, "ended": None, "pressed": None,
                                               "steps": [], "rates": []})
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
            if m := re.search(r"step ([\d,]+) of [\d,]+", text):           # (when, step) while it trains
                seen["steps"].append((time.monotonic(), int(m.group(1).replace(",", ""))))
            if m := re.search(r"([\d,.]+) steps/s", text):                   # the page's own recent rate
                seen["rates"].append(float(m.group(1).replace(",", "")))
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


async def solo(url: str, args) -> dict:
    """One run trains alone for run_seconds (nobody else on the server), then is stopped: the solo speed."""
    stats: dict = {"errors": [], "trainers": {}}
    now = time.monotonic()
    await trainer(url, stats, "solo", now, now + args.run_seconds + 120, args.run_seconds)
    return stats


async def hall(url: str, pid: int, args) -> dict:
    stats: dict = {"errors": [], "click_s": [], "click_kb": [], "clicks_resending_the_map": 0, "slider_s": [],
                   "trainers": {}, "rss_mb": [], "hover_ms": [], "slider_ms": [], "hover_frames_sent": 0,
                   "browser_clicks": 0}

    async def sample_rss() -> None:
        while True:
            stats["rss_mb"].append(rss_mb(pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_rss())

    async def crowd(t0: float) -> None:
        deadline = t0 + args.seconds
        pressed = [asyncio.Event() for _ in range(args.trainers)]
        trainers = [trainer(url, stats, f"T{i + 1}", t0 + 5 + 2 * i, deadline + args.drain, args.run_seconds,
                            turn=pressed[i - 1] if i else None, done=pressed[i])
                    for i in range(args.trainers)]
        await asyncio.gather(*(viewer(url, stats, deadline, seed) for seed in range(args.sessions)), *trainers)

    if not args.browsers:
        await crowd(time.monotonic())
    else:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                clock, go = {"deadline": float("inf")}, asyncio.Event()
                loaded = [asyncio.Event() for _ in range(args.browsers)]
                pages = [asyncio.create_task(browser_page(browser, url, stats, clock, i, loaded[i], go, args.navigate))
                         for i in range(args.browsers)]
                for ev in loaded:               # the pages' first maps, before the crowd comes
                    await ev.wait()
                t0 = time.monotonic()
                clock["deadline"] = t0 + args.seconds
                go.set()
                await asyncio.gather(crowd(t0), *pages)
            finally:
                await browser.close()
    sampler.cancel()
    return stats


def steps_per_s(seen: dict) -> float | None:
    """Steps per second of a run over the polls that saw it training (first to last step seen)."""
    steps = seen.get("steps", [])
    if len(steps) < 2 or steps[-1][0] <= steps[0][0]:
        return None
    return (steps[-1][1] - steps[0][1]) / (steps[-1][0] - steps[0][0])


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
    p.add_argument("--browsers", type=int, default=3, help="real Chromium pages that hover and drag (heavy: keep few)")
    p.add_argument("--no-solo", action="store_true", help="skip the solo run (no steps/s ratio)")
    p.add_argument("--navigate", choices=("sidebar", "reload"), default="sidebar",
                   help="how the Chromium pages switch pages: the sidebar's links, as a student does (default), "
                        "or reloading the URL (the whole app starts again in the browser; before 2026-12-03)")
    p.add_argument("--expire-wait", type=float, default=125,
                   help="seconds to wait after the hall before measuring the server's memory again, once Streamlit "
                        "may drop the sessions that left (server.disconnectedSessionTTL, 120 s; 0: skip)")
    p.add_argument("--out", default=None, help="results name (default lecture_hall_<sessions>)")
    p.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AAE_CHECKPOINTS_DIR": args.checkpoints, "AAE_RUNS_DIR": str(Path(tmp) / "runs"),
               "AAE_CACHE_DIR": str(Path(tmp) / "cache")}
        proc, url = start_app(env, Path(tmp) / "server.log")
        try:
            async def warm() -> None:                      # the model, test set and map loaded once
                s = Session(url, {"errors": []})
                await s.open()
                await s.rerun("latent_map")
                await s.close()

            asyncio.run(warm())
            solo_stats = {"errors": [], "trainers": {}} if args.no_solo else asyncio.run(solo(url, args))
            time.sleep(2)
            before = rss_mb(proc.pid)
            stats = asyncio.run(hall(url, proc.pid, args))
            time.sleep(3)
            after_by_process = rss_by_process(proc.pid)
            after = sum(after_by_process.values())
            after_expiry = None
            if args.expire_wait > 0:
                # Streamlit keeps a session that left for server.disconnectedSessionTTL (120 s), in a cache that
                # drops expired entries only when another session is saved: one more visitor makes it do so
                time.sleep(args.expire_wait)
                asyncio.run(warm())
                time.sleep(3)
                after_expiry = rss_mb(proc.pid)
            # the solo speed again once the hall has left: on shared cores one solo figure can be off by half
            solo_after = {"errors": [], "trainers": {}} if args.no_solo else asyncio.run(solo(url, args))
        finally:
            stop_app(proc)
        log_tail = (Path(tmp) / "server.log").read_text()[-3000:]
    trainers = stats["trainers"]
    solo_rates = [r for r in (steps_per_s(x["trainers"].get("solo", {})) for x in (solo_stats, solo_after))
                  if r is not None]
    solo_rate = statistics.mean(solo_rates) if solo_rates else None
    hall_rate = steps_per_s(trainers.get("T1", {}))
    errors = solo_stats["errors"] + stats["errors"] + solo_after["errors"]
    pressed = sorted(trainers, key=lambda n: trainers[n]["pressed"] or float("inf"))
    started = sorted((n for n in trainers if trainers[n]["started"]), key=lambda n: trainers[n]["started"])
    result = {
        "client": "Streamlit websocket protocol (BackMsg/ForwardMsg) sessions plus real Chromium pages (software "
                  "GL); see the docstring",
        "sessions": args.sessions, "browsers": args.browsers, "browser_navigation": args.navigate,
        "trainer_sessions": args.trainers,
        "seconds": args.seconds, "run_seconds": args.run_seconds,
        "targets": {"browser_decode_ms": {"p50": 16, "p95": 50}, "server_interaction_p95_s": "1.0 at 20, 2.0 at 40",
                    "training_ratio": 0.5, "errors": 0},
        "browser_hover_decodes": len(stats["hover_ms"]), "browser_hover_ms_p50": pct(stats["hover_ms"], 50),
        "browser_hover_ms_p95": pct(stats["hover_ms"], 95),
        "browser_slider_decodes": len(stats["slider_ms"]), "browser_slider_ms_p50": pct(stats["slider_ms"], 50),
        "browser_slider_ms_p95": pct(stats["slider_ms"], 95),
        "browser_decode_ms_p50": pct(stats["hover_ms"] + stats["slider_ms"], 50),
        "browser_decode_ms_p95": pct(stats["hover_ms"] + stats["slider_ms"], 95),
        "browser_clicks": stats["browser_clicks"],
        "websocket_frames_sent_while_hovering": stats["hover_frames_sent"] if stats["hover_ms"] else None,
        "server_interactions": len(stats["click_s"]) + len(stats["slider_s"]),
        "server_interaction_p50_s": pct(stats["click_s"] + stats["slider_s"], 50),
        "server_interaction_p95_s": pct(stats["click_s"] + stats["slider_s"], 95),
        "training_steps_per_s": {"solo": solo_rate, "solo_before_and_after": solo_rates, "during_hall": hall_rate,
                                 "ratio": hall_rate / solo_rate if solo_rate and hall_rate is not None else None,
                                 "page_reported_solo": solo_stats["trainers"].get("solo", {}).get("rates", [])[-5:],
                                 "page_reported_during_hall": trainers.get("T1", {}).get("rates", [])[-5:]},
        "max_trainings": os.environ.get("AAE_MAX_TRAININGS") or max(1, (os.cpu_count() or 1) // 2),
        "clicks": len(stats["click_s"]), "click_to_image_p50_s": pct(stats["click_s"], 50),
        "click_to_image_p95_s": pct(stats["click_s"], 95),
        "click_reply_kb_p50": pct(stats.get("click_kb", []), 50),
        "clicks_resending_the_map": stats.get("clicks_resending_the_map"),
        "slider_moves": len(stats["slider_s"]), "slider_to_image_p50_s": pct(stats["slider_s"], 50),
        "slider_to_image_p95_s": pct(stats["slider_s"], 95),
        "errors": len(errors), "error_samples": errors[:5],
        "server_rss_mb": {"before": round(before, 1), "peak": round(max(stats["rss_mb"], default=before), 1),
                          "after": round(after, 1),
                          "after_sessions_expired": None if after_expiry is None else round(after_expiry, 1)},
        "server_rss_after_mb_by_process": {k: round(v, 1) for k, v in after_by_process.items()},
        "runs_started_in_order": started == pressed[:len(started)],
        "runs_started": f"{len(started)} of {len(trainers)}",
        "queue": {n: {"positions_seen": sorted(set(t["positions"]), reverse=True),
                      "waited_s": round(t["started"] - t["pressed"], 1) if t["started"] else None,
                      "ran_s": round(t["ended"] - t["started"], 1) if t["ended"] and t["started"] else None,
                      "steps_per_s": steps_per_s(t), "last_seen": t.get("final") or t.get("last", "")}
                  for n, t in trainers.items()},
    }
    if errors:
        result["server_log_tail"] = log_tail
    write_result(args.out or f"lecture_hall_{args.sessions}", result)
    print(json.dumps({k: v for k, v in result.items() if k != "server_log_tail"}, indent=2))


if __name__ == "__main__":
    main()
