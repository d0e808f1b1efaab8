"""Decoding in the browser: hover -> new image latency in Chromium, what travels, and the decoder files.

For a few shipped models (each served alone, so it is the page's default model): open the Latent map in the
system Chromium, sweep the pointer across the map, and read the component's own timings (performance.now()
from the pointer event to the image drawn on the canvas, window.aaeStats.times). Also: the bytes the component
fetched on the first visit and on a second one (IndexedDB), the websocket bytes the server sent for the first
page and for one click, and the websocket frames sent while hovering (expected 0). For every shipped model: the
size of its ONNX decoder and its largest difference from model.decode on 100 codes.
Targets (issue 17): p50 <= 16 ms, p95 <= 50 ms.

    python -m benchmarks.browser_decode            # writes benchmarks/results/browser_decode.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch
from playwright.sync_api import sync_playwright

from aae_core import checkpoint
from aae_core.onnx_export import export_decoder
from benchmarks._common import READY, REPO, launch_chromium, start_app, stop_app, write_result

MODELS = ("unsupervised_gaussian_2d", "supervised_style_2d", "semi_supervised_100")
DRAWN = """() => { const gd = document.querySelector("#plot.js-plotly-plot");
  return gd && gd._fullLayout && gd.calcdata && window.aaeStats && window.aaeStats.ready; }"""
# Page coordinates (in the frame) of test points to hover, spread over the plot.
POINTS = """(n) => { const gd = document.getElementById('plot'), L = gd._fullLayout;
  const box = gd.querySelector('.nsewdrag').getBoundingClientRect(), out = [];
  for (const t of gd._fullData) { if (!/^[0-9]$/.test(t.name)) continue;
    for (let i = 0; i < t.x.length; i += 37) {
      out.push([box.left + L.xaxis.c2p(t.x[i]), box.top + L.yaxis.c2p(t.y[i])]); } }
  return out.filter(([x, y]) => x > box.left && x < box.right && y > box.top && y < box.bottom).slice(0, n); }"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def decoder_files(folder: Path) -> dict[str, dict]:
    """Per shipped model: the ONNX decoder's size and its largest difference from model.decode (100 codes)."""
    import onnxruntime as ort

    out = {}
    for ckpt in sorted(p for p in (REPO / "checkpoints").iterdir() if (p / "config.json").is_file()):
        model = checkpoint.load(ckpt, device="cpu")
        file = export_decoder(model, folder / f"{ckpt.name}.onnx")
        g = torch.Generator().manual_seed(0)
        z = model.prior.sample(100, generator=g).float()
        feeds = {"z": z.numpy()}
        y = None
        if model.classes:
            y = torch.nn.functional.one_hot(torch.randint(0, model.config.n_classes, (100,), generator=g),
                                            model.config.n_classes).float()
            feeds["class_code"] = y.numpy()
        (got,) = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"]).run(None, feeds)
        with torch.no_grad():
            want = model.eval().decode(z, y).reshape(100, -1).numpy()
        out[ckpt.name] = {"onnx_bytes": file.stat().st_size, "max_abs_diff": float(np.abs(got - want).max())}
        print(ckpt.name, out[ckpt.name])
    return out


def measure_model(name: str, browser, root: Path, moves: int) -> dict:
    root = root / name                                      # this model alone: the page's default model
    shutil.copytree(REPO / "checkpoints" / name, root / "checkpoints" / name)
    env = {**os.environ, "AAE_CHECKPOINTS_DIR": str(root / "checkpoints"), "AAE_RUNS_DIR": str(root / "runs"),
           "AAE_CACHE_DIR": str(root / "cache"), "AAE_DEVICE": "cpu"}
    proc, url = start_app(env, root / "server.log")
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        sent, received = [], []
        page.on("websocket", lambda ws: (ws.on("framesent", lambda p: sent.append(len(p))),
                                         ws.on("framereceived", lambda p: received.append(len(p)))))
        t0 = time.perf_counter()
        page.goto(f"{url}/latent_map")
        page.wait_for_selector(READY, timeout=180_000)
        while not (frames := [f for f in page.frames if "map_view.latent_map/" in f.url]):
            page.wait_for_timeout(100)
        frame = frames[0]
        frame.wait_for_function(DRAWN, timeout=180_000)
        first_ready = time.perf_counter() - t0
        page.wait_for_selector(READY, timeout=60_000)
        page.wait_for_timeout(1000)
        first_page_ws = sum(received)
        offset = page.locator("iframe[title*='latent_map']").bounding_box()
        points = frame.evaluate(POINTS, moves)
        sent_before = len(sent)
        frame.evaluate("() => { window.aaeStats.times.length = 0; }")
        for x, y in points:                                 # one test point after another, as a pointer sweep
            page.mouse.move(offset["x"] + x, offset["y"] + y, steps=2)
        page.wait_for_timeout(500)
        stats = frame.evaluate("() => window.aaeStats")
        hover_frames_sent = len(sent) - sent_before
        times = stats["times"]
        # one click: what the server sends back for the rerun it causes
        received_before = sum(received)
        x, y = points[len(points) // 2]
        page.mouse.click(offset["x"] + x, offset["y"] + y)
        page.wait_for_timeout(500)
        page.wait_for_selector(READY, timeout=60_000)
        page.wait_for_timeout(500)
        click_ws = sum(received) - received_before
        first_fetched = stats["fetched"]
        shown = page.locator("[data-testid='stSidebar']").inner_text()
        assert name in shown, f"the sidebar shows {shown[:300]!r}, not the model {name}"
        # a second visit in the same browser: the files come from IndexedDB
        page.reload()
        page.wait_for_selector(READY, timeout=60_000)
        while not (frames := [f for f in page.frames if "map_view.latent_map/" in f.url]):
            page.wait_for_timeout(100)
        frames[0].wait_for_function(DRAWN, timeout=60_000)
        second = frames[0].evaluate("() => window.aaeStats")
        context.close()
        # what serving the onnxruntime wasm costs the server (gzipped on every request by Streamlit)
        html = urllib.request.urlopen(f"{url}/component/explorer.map_view.latent_map/index.html").read().decode()
        wasm = next(f for f in os.listdir(REPO / "explorer/map_component/build/assets") if f.endswith(".wasm"))
        req = urllib.request.Request(f"{url}/component/explorer.map_view.latent_map/assets/{wasm}",
                                     headers={"Accept-Encoding": "gzip"})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as resp:
            wire = len(resp.read())
        wasm_s = time.perf_counter() - t
        assert "<title>" in html
    finally:
        stop_app(proc)
    result = {"hover_decodes": len(times), "hover_ms_p50": percentile(times, 50),
              "hover_ms_p95": percentile(times, 95), "hover_ms_max": max(times) if times else None,
              "websocket_frames_sent_while_hovering": hover_frames_sent,
              "first_visit_ready_s": first_ready,
              "first_visit_fetched_bytes": {f["key"]: f["bytes"] for f in first_fetched},
              "second_visit_fetched_bytes": sum(f["bytes"] for f in second["fetched"]),
              "second_visit_cache_hits": len(second["cached"]),
              "websocket_bytes_first_page": first_page_ws, "websocket_bytes_one_click": click_ws,
              "wasm_gzip_wire_bytes": wire, "wasm_gzip_serve_s": wasm_s}
    print(name, {k: v for k, v in result.items() if k != "first_visit_fetched_bytes"})
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200, help="test points hovered per model")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = decoder_files(root / "onnx")
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                hover = {name: measure_model(name, browser, root, args.moves) for name in args.models}
            finally:
                browser.close()
    build = REPO / "explorer/map_component/build"
    write_result("browser_decode", {
        "targets_ms": {"p50": 16, "p95": 50}, "hover": hover, "decoders": files,
        "component_build_bytes": {str(f.relative_to(build)): f.stat().st_size for f in build.rglob("*")
                                  if f.is_file()}})


if __name__ == "__main__":
    main()
