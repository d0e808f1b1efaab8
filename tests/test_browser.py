"""The real thing: `streamlit run app.py` in a subprocess, driven through the system Chromium."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
import torch
from conftest import synthetic_images, tiny_config
from PIL import Image
from playwright.sync_api import sync_playwright

import aae_core
from aae_core import projection
from benchmarks._common import CHROMIUM, CHROMIUM_ARGS, READY, launch_chromium, running_app  # noqa: F401

pytestmark = pytest.mark.browser


# The most isolated encoded test point of the map (customdata [0, index, label], whatever its trace is called: a digit
# on the Latent map, a predicted class on the Classes page; so that the pointer cannot land on a neighbour), where it
# is in the frame, and its label.
FIND_POINT = """(selector) => {
  const gd = document.querySelector(selector);
  const L = gd._fullLayout, box = gd.getBoundingClientRect();
  const all = [], tests = [];
  gd._fullData.forEach((t) => {
    if (t.hoverinfo === "none" || !t.x) return;            // the invisible background grid
    for (let i = 0; i < t.x.length; i++) {
      const p = {x: L.xaxis.l2p(t.x[i]) + L._size.l, y: L.yaxis.l2p(t.y[i]) + L._size.t};
      all.push(p);
      if (t.customdata && Number(t.customdata[i][0]) === 0) tests.push({...p, label: String(t.customdata[i][2])});
    }
  });
  let best = null, bestGap = -1;
  for (const p of tests) {
    let gap = Infinity;
    for (const q of all) { if (q.x !== p.x || q.y !== p.y) gap = Math.min(gap, Math.hypot(p.x - q.x, p.y - q.y)); }
    const inside = p.x > L._size.l + 5 && p.x < L._size.l + L._size.w - 5 && p.y > L._size.t + 5 &&
                   p.y < L._size.t + L._size.h - 5;
    if (inside && gap > bestGap) { best = p; bestGap = gap; }
  }
  return {x: box.left + best.x, y: box.top + best.y, label: best.label, gap: bestGap};
}"""


def _write_timeline(model, folder: Path, n: int = 4) -> None:
    """A training timeline of n snapshots for `folder`: the codes spread out from near 0 to the model's own."""
    import copy

    from aae_core.checkpoint_meta import SNAPSHOTS_FILE
    from aae_core.snapshots import Timeline, grid_extent, take_snapshot

    images = synthetic_images(60, seed=3)
    timeline = Timeline(images.labels.numpy(), torch.arange(60).numpy(), "test", grid_extent(model), [None])
    for i in range(n):
        shrunk = copy.deepcopy(model)
        with torch.no_grad():
            shrunk.encoder[-1].weight.mul_((i + 1) / n)
        take_snapshot(shrunk, images.to_float(), timeline, epoch=i, step=50 * i, losses={"loss_generator": 1.0 + i})
    (folder / SNAPSHOTS_FILE).write_bytes(timeline.to_bytes())


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_mnist_dir):
    """The app on a free port, over one tiny 2-D checkpoint whose map is precomputed; always stopped."""
    root = tmp_path_factory.mktemp("browser")
    model = aae_core.build_model(tiny_config("unsupervised"), seed=0)
    with torch.no_grad():
        model.encoder[-1].weight.mul_(40.0)              # spread the untrained codes over the map
    folder = aae_core.save(model, root / "checkpoints" / "unsupervised_gaussian_2d")
    projection.precompute(folder, data_dir=fake_mnist_dir)
    _write_timeline(model, folder)
    vae = aae_core.save(aae_core.build_model(tiny_config("vae", latent_dim=2), seed=1), root / "checkpoints" / "vae_2d")
    projection.precompute(vae, data_dir=fake_mnist_dir)            # the Compare page opens on this pair
    env = {**os.environ, "AAE_CHECKPOINTS_DIR": str(root / "checkpoints"), "AAE_RUNS_DIR": str(root / "runs"),
           "AAE_DATA_DIR": fake_mnist_dir, "AAE_CACHE_DIR": str(root / "cache"), "AAE_DEVICE": "cpu"}
    with running_app(env, root / "server.log") as url:
        yield url


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


MAP_FRAME = re.compile(r"/component/explorer\.map_view\.latent_map/index\.html")
MAP_DRAWN = """() => { const gd = document.querySelector("#plot.js-plotly-plot");
  return gd && gd._fullLayout && gd.calcdata && gd.data.length > 3 && window.aaeStats && window.aaeStats.ready; }"""
CANVAS_PIXELS = "() => Array.from(document.getElementById('canvas-b').getContext('2d').getImageData(0, 0, 28, 28).data)"


def open_map(page, url: str):
    """The Latent map page, its component frame once the map is drawn and the decoder loaded, and a point."""
    page.goto(f"{url}/latent_map")                    # straight to the page, as a bookmark would
    page.wait_for_selector(READY, timeout=60_000)
    (frame,) = map_frames(page, 1)
    box = page.locator("iframe[title*='latent_map']").bounding_box()
    target = frame.evaluate(FIND_POINT, "#plot")
    assert target["gap"] > 3, target                        # a point the mouse can hit unambiguously
    return frame, {**target, "x": box["x"] + target["x"], "y": box["y"] + target["y"]}


def test_clicking_a_point_on_the_latent_map_shows_its_decoded_image(server, page):
    frame, target = open_map(page, server)
    assert page.get_by_text("Click a point on the map").count() == 1
    assert page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").count() == 1  # app.py ran too
    page.mouse.move(target["x"], target["y"])
    page.mouse.click(target["x"], target["y"])
    page.get_by_text(f"Original (label {target['label']})").wait_for(timeout=90_000)
    page.get_by_text("Reconstruction").wait_for(timeout=10_000)
    page.wait_for_function("() => { const ims = [...document.querySelectorAll(\"[data-testid='stImage'] img\")];"
                           " return ims.length >= 2 && ims.every(im => im.complete && im.naturalWidth > 0); }",
                           timeout=10_000)                  # the original and its reconstruction, loaded


def test_hovering_the_map_decodes_in_the_browser_without_a_message_to_the_server(server, page):
    sent, served = [], {}
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.on("response", lambda r: served.update({r.url.rsplit("/", 1)[-1]: r.all_headers()}))
    frame, target = open_map(page, server)
    page.wait_for_selector(READY, timeout=30_000)
    # The big files travel gzipped once (application/gzip: the server's middleware compresses nothing per
    # request): the wasm, the bundle, the decoder, the codes and the test images.
    packed = {name: h for name, h in served.items() if name.endswith(".gz")}
    assert {n.rsplit(".", 2)[-2] for n in packed} >= {"wasm", "js", "onnx", "float32", "uint8"}, sorted(served)
    assert all(h.get("content-type") == "application/gzip" and "content-encoding" not in h
               for h in packed.values()), packed
    page.wait_for_timeout(1000)                             # let the page settle: no frame is in flight
    before_frames, before = len(sent), frame.evaluate(CANVAS_PIXELS)
    page.mouse.move(target["x"], target["y"], steps=3)      # onto a test point: its reconstruction
    frame.wait_for_function("() => window.aaeStats.decodes > 0", timeout=10_000)
    on_point = frame.evaluate(CANVAS_PIXELS)
    assert frame.evaluate("() => document.getElementById('caption').textContent").startswith("test image #")
    box = page.locator("iframe[title*='latent_map']").bounding_box()
    path = [(box["x"] + box["width"] * f, box["y"] + box["height"] * 0.6) for f in (0.2, 0.3, 0.4, 0.5)]
    for x, y in path:                                       # across empty space of the 2-D latent: decoded spots
        page.mouse.move(x, y, steps=4)
    frame.wait_for_function("(n) => window.aaeStats.decodes > n", arg=1, timeout=10_000)
    page.wait_for_timeout(500)
    after = frame.evaluate(CANVAS_PIXELS)
    stats = frame.evaluate("() => ({decodes: window.aaeStats.decodes, error: window.aaeStats.error})")
    assert stats["error"] is None, stats
    assert on_point != before and after != on_point, "the decoded image changed as the pointer moved"
    assert len(sent) == before_frames, f"{len(sent) - before_frames} websocket frames were sent while hovering"



def test_the_critics_heatmap_layer_is_drawn_by_the_component_and_hover_and_click_still_work(server, page):
    """The component's Plotly is a partial bundle (core + scatter, scattergl, heatmap): with D(z) shown under the
    codes the frame draws the heatmap itself, hovering still decodes there, and a click (found by the frame's own
    hit test, Plotly's hover being off) still selects the point."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    frame, target = open_map(page, server)
    page.get_by_text("D(z) heatmap").click()                # the page's toggle: the map now carries the layer
    page.wait_for_selector(READY, timeout=60_000)
    frame = map_frames(page, 1)[0]
    frame.wait_for_function("() => document.querySelector('#plot')._fullData.some(t => t.type === 'heatmap')"
                            " && document.querySelector('#plot .heatmaplayer image')", timeout=60_000)
    decodes = frame.evaluate("() => window.aaeStats.decodes")
    box = page.locator("iframe[title*='latent_map']").bounding_box()
    target = frame.evaluate(FIND_POINT, "#plot")
    x, y = box["x"] + target["x"], box["y"] + target["y"]
    page.mouse.move(x, y, steps=3)
    frame.wait_for_function("(n) => window.aaeStats.decodes > n", arg=decodes, timeout=10_000)
    assert frame.evaluate("() => document.getElementById('caption').textContent").startswith("test image #")
    page.mouse.click(x, y)
    page.get_by_text(f"Original (label {target['label']})").wait_for(timeout=90_000)
    assert frame.evaluate("() => window.aaeStats.error") is None and not errors, errors

def drag_first_slider(page, frame, sent: list) -> tuple[int, int]:
    """Drag the first range input of the component frame from its middle to its left end and check the
    decoded image changed in the browser. Returns (websocket frames sent during the drag, before letting go)."""
    before, decodes, frames = frame.evaluate(CANVAS_PIXELS), frame.evaluate("() => window.aaeStats.decodes"), len(sent)
    box = frame.locator("input[type=range]").first.bounding_box()   # (in the page's coordinates)
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 4, y, steps=12)                     # dragged to the left end, a step at a time
    during = len(sent) - frames
    frame.wait_for_function("(n) => window.aaeStats.decodes > n", arg=decodes, timeout=10_000)
    page.wait_for_timeout(300)
    assert frame.evaluate(CANVAS_PIXELS) != before, "the decoded image followed the slider"
    page.mouse.up()
    return during, frames


def test_dragging_a_decoder_slider_decodes_in_the_browser_and_tells_the_server_on_release(server, page):
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.goto(f"{server}/sliders")
    page.wait_for_selector(READY, timeout=60_000)
    (frame,) = map_frames(page, 1, drawn="() => window.aaeStats && window.aaeStats.decodes > 0")
    page.wait_for_selector(READY, timeout=30_000)
    page.wait_for_timeout(1000)
    during, frames = drag_first_slider(page, frame, sent)
    page.wait_for_timeout(1500)
    assert during == 0, f"{during} websocket frames were sent while dragging"
    assert len(sent) > frames, "letting go of the slider tells the server"
    page.wait_for_selector(READY, timeout=30_000)


def test_walking_the_interpolation_decodes_in_the_browser(server, page):
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    _open(page, f"{server}/interpolate")
    frames = map_frames(page, 2, drawn="() => window.aaeStats && window.aaeStats.ready")
    (walk,) = [f for f in frames if f.evaluate("() => document.querySelectorAll('input[type=range]').length") == 1]
    walk.wait_for_function("() => window.aaeStats.decodes > 0", timeout=30_000)
    page.wait_for_timeout(1000)
    during, _ = drag_first_slider(page, walk, sent)
    assert during == 0, f"{during} websocket frames were sent while dragging"


# --- the teaching pages --------------------------------------------------------------------------------
PLOTS_DRAWN = """(n) => { const gds = [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")];
  return gds.length >= n && gds.every(gd => gd._fullLayout && gd.calcdata && gd.data.length > 3); }"""


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(READY, timeout=60_000)


def map_frames(page, n: int, timeout: float = 120, drawn: str = MAP_DRAWN):
    """The first n latent-map component frames of the page, each with its map drawn and decoder loaded."""
    deadline = time.monotonic() + timeout
    while len(frames := [f for f in page.frames if MAP_FRAME.search(f.url)]) < n:
        if time.monotonic() > deadline:
            page.screenshot(path="/tmp/map_frames_failure.png")
            raise AssertionError(f"{len(frames)} of {n} map frames: {page.inner_text('body')[:2000]}")
        page.wait_for_timeout(200)                          # (lets Playwright take in the frames attached)
    for frame in frames[:n]:
        frame.wait_for_function(drawn, timeout=timeout * 1000)
    return frames[:n]


def test_compare_page_shows_two_maps_on_the_same_axes(server, page):
    _open(page, f"{server}/compare")
    frames = map_frames(page, 2)
    ranges = [f.evaluate("() => { const L = document.getElementById('plot')._fullLayout; "
                         "return [L.xaxis.range, L.yaxis.range]; }") for f in frames]
    assert len(ranges) == 2 and ranges[0] == ranges[1]


def _draw_stroke(page) -> None:
    """A 7 drawn with the mouse on the Draw page's canvas (fabric.js's upper canvas takes the events)."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 70, y0 + 60)
    page.mouse.down()
    for x, y in [(130, 58), (200, 60), (185, 110), (160, 170), (140, 230)]:
        page.mouse.move(x0 + x, y0 + y, steps=8)
    page.mouse.up()


def test_a_stroke_drawn_on_the_canvas_gives_a_reconstruction_and_a_png(server, page):
    _open(page, f"{server}/draw")
    assert page.get_by_text("Draw a digit on the canvas").count() == 1
    _draw_stroke(page)
    page.get_by_text("Reconstruction").wait_for(timeout=30_000)
    page.wait_for_function("() => { const ims = [...document.querySelectorAll(\"[data-testid='stImage'] img\")];"
                           " return ims.length >= 2 && ims.every(im => im.complete && im.naturalWidth > 0); }",
                           timeout=10_000)
    page.wait_for_selector(READY, timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download (PNG)").click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).size == (2 * 28 * 6 + 2 * 6, 28 * 6)   # the drawing and its reconstruction


def test_the_prior_fit_moments_download_as_a_csv(server, page):
    _open(page, f"{server}/prior_fit")
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download the moments (CSV)").click()
    text = Path(download.value.path()).read_text()
    lines = text.strip().splitlines()
    assert lines[0].startswith("dimension,mean (codes),mean (prior)") and len(lines) == 3   # header + z1, z2


def test_the_training_timeline_plays_in_the_browser_without_the_server(server, page):
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append("sent")))
    _open(page, f"{server}/latent_map")
    map_frames(page, 1)                                                # the map (in its component) is drawn
    page.get_by_text("Play the training timeline").click()
    player = "() => [...document.querySelectorAll('.js-plotly-plot')].find(gd => gd.layout.sliders)"
    page.wait_for_function(f"() => {{ const gd = ({player})(); return gd && gd._fullLayout && "
                           "gd._transitionData && gd._transitionData._frames.length === 4; }", timeout=60_000)
    page.wait_for_selector(READY, timeout=30_000)
    codes = f"() => {{ const gd = ({player})(); return gd._fullData.filter(t => /^[0-9]$/.test(t.name))" \
            ".map(t => Array.from(t.x)).flat(); }"
    first = page.evaluate(codes)
    assert sent                                                        # (the listener hears the page's socket)
    sent.clear()
    page.locator(".updatemenu-button").filter(has_text="Play").first.click()
    # the animation runs in the browser: the slider walks to the last snapshot and the codes change
    page.wait_for_function(f"() => ({player})()._fullLayout.sliders[0].active === 3", timeout=30_000)
    assert page.evaluate(codes) != first
    assert "epoch 3" in page.evaluate(f"() => ({player})()._fullLayout.title.text")
    assert sent == []                                                  # no message to the server
