"""App latency in a real browser: time from opening the latent map in a fresh server process to the chart
being drawn (cached projection), click to decoded image, and a slider move (the server-side decode+render
time the page reports, and the browser-side time until the new image is shown). first_content_s (the
page's title) and plotly_js_fetched_s (Streamlit's plotly chunk downloaded) split the first map's time
between the server and the browser, which parses plotly.js and draws after that.
Writes results/app_latency.json.

    python -m benchmarks.app_latency [--checkpoints DIR] [--data-dir DIR] [--runs 3] [--compare-with TREE]

--compare-with TREE measures another checkout of the app too (e.g. `git worktree add /tmp/before <commit>`),
alternating fresh servers of the two trees in one run, so that a change is judged by a ratio on one machine
at one time (these cores are shared and noisy).

The app opens on its default model (the first of explorer.picker.DEFAULT_MODELS that is shipped); precompute its
map first (python -m aae_core.projection DIR) so that the first map needs no fit.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._common import READY, REPO, launch_chromium, start_app, stop_app, write_result

DRAWN = """() => { const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
  return !!(gd && gd._fullLayout && gd.calcdata && gd.data.length > 3); }"""
# The src of the sliders page's decoded image (the one captioned "Decoded image"), once it has loaded.
DECODED_SRC = """() => { for (const box of document.querySelectorAll("[data-testid='stImage']")) {
  if (box.innerText.includes("Decoded image")) { const im = box.querySelector("img");
    return im && im.complete ? im.getAttribute("src") : null; } } return null; }"""
# Every Plotly chart on the page drawn, at least n of them.
PLOTS_DRAWN = """(n) => { const gds = [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")];
  return gds.length >= n && gds.every(gd => gd._fullLayout && gd.calcdata && gd.data.length > 3); }"""
# The Draw page's reconstruction, loaded.
RECONSTRUCTION_SHOWN = """() => { for (const box of document.querySelectorAll("[data-testid='stImage']")) {
  if (box.innerText.includes("Reconstruction")) { const ims = [...box.querySelectorAll("img")];
    return ims.length >= 2 && ims.every(im => im.complete && im.naturalWidth > 0); } } return false; }"""
# The most isolated encoded point on screen, so that the click hits it and nothing else.
ISOLATED_POINT = """() => {
  const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
  const L = gd._fullLayout, box = gd.getBoundingClientRect(), all = [], digits = [];
  gd._fullData.forEach((t) => { if (t.name === "empty space") return;
    for (let i = 0; i < t.x.length; i++) {
      const p = {x: L.xaxis.l2p(t.x[i]) + L._size.l, y: L.yaxis.l2p(t.y[i]) + L._size.t, name: t.name};
      all.push(p); if (/^[0-9]$/.test(t.name)) digits.push(p); } });
  let best = null, gapBest = -1;
  for (const p of digits.filter((_, i) => i % 7 === 0)) { let gap = Infinity;
    for (const q of all) if (q !== p) gap = Math.min(gap, Math.hypot(p.x - q.x, p.y - q.y));
    const inside = p.x > L._size.l + 5 && p.x < L._size.l + L._size.w - 5 && p.y > L._size.t + 5 &&
                   p.y < L._size.t + L._size.h - 5;
    if (inside && gap > gapBest) { best = p; gapBest = gap; } }
  return {x: box.left + best.x, y: box.top + best.y, label: best.name}; }"""


def measure_once(env: dict[str, str], browser, log: Path, root: Path = REPO) -> dict[str, float]:
    proc, url = start_app(env, log, root)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(f"{url}/latent_map")
        page.wait_for_selector("h1", timeout=120_000)
        first_content = time.perf_counter() - t0          # the script's first output (torch is not needed yet)
        page.wait_for_function(DRAWN, timeout=120_000)
        first_map = time.perf_counter() - t0
        plotly_js = page.evaluate("() => (performance.getEntriesByType('resource').find(e => "
                                  "e.name.includes('PlotlyChart')) || {}).responseEnd || null")
        page.wait_for_selector(READY, timeout=120_000)
        page.wait_for_timeout(300)
        target = page.evaluate(ISOLATED_POINT)
        t1 = time.perf_counter()
        page.mouse.click(target["x"], target["y"])
        page.get_by_text("Reconstruction").wait_for(timeout=30_000)
        click_to_image = time.perf_counter() - t1
        page.wait_for_selector(READY, timeout=60_000)

        page.goto(f"{url}/sliders")
        page.wait_for_selector(READY, timeout=60_000)
        page.wait_for_timeout(500)
        slider = page.locator("[data-testid='stSlider'] input[type='range']").first
        server_ms, browser_ms = [], []
        for _ in range(8):
            before = page.evaluate(DECODED_SRC)
            slider.focus()
            t2 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(f"(src) => {{ const now = ({DECODED_SRC})(); return now && now !== src; }}",
                                   arg=before, timeout=10_000)
            browser_ms.append(1000 * (time.perf_counter() - t2))
            page.wait_for_selector(READY, timeout=10_000)
            caption = page.get_by_text(re.compile(r"decoded and drawn in")).inner_text()
            server_ms.append(float(re.search(r"in ([0-9.]+) ms", caption).group(1)))

        compare_first = draw_to_image = None
        if (root / "explorer" / "pages" / "compare.py").is_file():   # a tree from before these pages skips them
            t3 = time.perf_counter()
            page.goto(f"{url}/compare")
            page.wait_for_function(PLOTS_DRAWN, arg=2, timeout=120_000)
            compare_first = time.perf_counter() - t3
            page.wait_for_selector(READY, timeout=120_000)

            page.goto(f"{url}/draw")
            page.wait_for_selector(READY, timeout=60_000)
            canvas = page.locator("canvas.upper-canvas").first
            canvas.wait_for(timeout=30_000)
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + 70, box["y"] + 60)
            page.mouse.down()
            for x, y in [(130, 58), (200, 60), (185, 110), (160, 170), (140, 230)]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
            t4 = time.perf_counter()
            page.mouse.up()
            page.wait_for_function(RECONSTRUCTION_SHOWN, timeout=60_000)
            draw_to_image = time.perf_counter() - t4
        page.close()
        return {"first_content_s": first_content,
                "plotly_js_fetched_s": plotly_js / 1000 if plotly_js else None,  # Streamlit's 4.7 MB chart chunk
                "first_map_s": first_map, "click_to_image_s": click_to_image,
                "slider_server_ms": statistics.median(server_ms), "slider_browser_ms": statistics.median(browser_ms),
                "compare_first_view_s": compare_first, "draw_to_image_s": draw_to_image}
    finally:
        stop_app(proc)


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--runs", type=int, default=3, help="fresh server processes to measure")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--compare-with", default=None, help="another checkout of the app, measured alternately")
    p.add_argument("--tree", default=str(REPO), help="the checkout to measure as 'this' (default: this one)")
    args = p.parse_args()
    trees = {"this": Path(args.tree).resolve()} | ({"other": Path(args.compare_with).resolve()}
                                                   if args.compare_with else {})
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AAE_CHECKPOINTS_DIR": args.checkpoints, "AAE_RUNS_DIR": str(Path(tmp) / "runs"),
               "AAE_CACHE_DIR": str(Path(tmp) / "cache")}
        if args.data_dir:
            env["AAE_DATA_DIR"] = args.data_dir
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        with sync_playwright() as pw:
            browser = launch_chromium(pw, args.chromium)
            try:
                for i in range(args.runs):
                    for name, root in trees.items():
                        runs[name].append(measure_once(env, browser, Path(tmp) / f"server{i}-{name}.log", root))
                        print(name, runs[name][-1])
            finally:
                browser.close()

    def median(rs: list[dict[str, float]]) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in rs) for k in rs[0] if rs[0][k] is not None}

    result = {"checkpoints": args.checkpoints, "runs": runs["this"], "median": median(runs["this"])}
    if args.compare_with:
        other = median(runs["other"])
        result.update(compared_with=str(trees["other"]), other_runs=runs["other"], other_median=other,
                      ratio_this_to_other={k: v / other[k] for k, v in result["median"].items() if other.get(k)})
    write_result("app_latency", result)


if __name__ == "__main__":
    main()
