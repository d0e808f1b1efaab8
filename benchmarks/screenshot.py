"""The README's picture: the Latent map of a shipped model in Chromium, a test point hovered (its image and its
reconstruction decoded in the browser) and clicked (the server's panel), at 1920x1080.

    python -m benchmarks.screenshot [--model unsupervised_gaussian_2d] [--out docs/img/latent_map.png]

Starts the app on a free port of 127.0.0.1 with the shipped checkpoints and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from benchmarks._common import READY, REPO, launch_chromium, running_app

MAP_DRAWN = "() => window.aaeStats && window.aaeStats.ready && document.querySelector('#plot.js-plotly-plot')"
# The encoded test point nearest the middle of the plot, in the frame's coordinates.
A_POINT = """() => {
  const gd = document.querySelector('#plot'), L = gd._fullLayout, box = gd.getBoundingClientRect();
  const cx = L._size.l + L._size.w * 0.42, cy = L._size.t + L._size.h * 0.45;
  let best = null, bestD = Infinity;
  gd._fullData.forEach((t) => { if (!/^[0-9]$/.test(t.name)) return;
    for (let i = 0; i < t.x.length; i++) {
      const x = L.xaxis.l2p(t.x[i]) + L._size.l, y = L.yaxis.l2p(t.y[i]) + L._size.t;
      const d = Math.hypot(x - cx, y - cy); if (d < bestD) { bestD = d; best = {x: box.left + x, y: box.top + y}; }
    } });
  return best;
}"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unsupervised_gaussian_2d")
    parser.add_argument("--out", default=str(REPO / "docs" / "img" / "latent_map.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AAE_RUNS_DIR": str(Path(tmp) / "runs"), "AAE_DEVICE": "cpu"}
        with running_app(env, Path(tmp) / "server.log") as url:
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport={"width": 1920, "height": 1080})
                page.goto(f"{url}/latent_map?model={args.model}")
                page.wait_for_selector(READY, timeout=120_000)
                while not (frames := [f for f in page.frames if "map_view.latent_map" in f.url]):
                    page.wait_for_timeout(300)
                frame = frames[0]
                frame.wait_for_function(MAP_DRAWN, timeout=300_000)
                box = page.locator("iframe[title*='latent_map']").bounding_box()
                target = frame.evaluate(A_POINT)
                x, y = box["x"] + target["x"], box["y"] + target["y"]
                page.mouse.move(x, y, steps=4)
                page.mouse.click(x, y)
                page.wait_for_timeout(1500)
                page.wait_for_selector(READY, timeout=60_000)
                page.mouse.move(x + 3, y + 2, steps=2)          # hovering again: the browser's decoding shows
                page.wait_for_timeout(800)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out)
                browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
