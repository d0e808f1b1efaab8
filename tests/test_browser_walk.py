"""The lecturer's walk in a real browser: what is drawn over the WebGL points shows, presentation mode on a
1920x1080 projector, and a view that a link (with or without the session token) opens again."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, FIND_POINT, READY, _draw_stroke, map_frames, server  # noqa: F401

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("AAE_SCREENSHOTS")    # a folder to keep the screenshots in (for a person to look at)

# The colour of each pixel of the plot along a trace's points, as the screen shows it (a WebGL canvas cannot
# be read back: the screenshot is the truth), for the traces whose name matches.
# The map is drawn in its component's frame (explorer.map_view): evaluated there, offsets added by _on_page.
TRACE_PIXELS = """(pattern) => {
  const gd = document.querySelector("#plot");
  const L = gd._fullLayout, box = gd.getBoundingClientRect(), re = new RegExp(pattern), out = [];
  gd._fullData.forEach((t, i) => {
    if (!re.test(t.name)) return;
    for (let j = 0; j < t.x.length; j++)
      out.push({x: box.left + L.xaxis.l2p(t.x[j]) + L._size.l, y: box.top + L.yaxis.l2p(t.y[j]) + L._size.t, i});
  });
  return {points: out, order: gd._fullData.map(t => [t.name, t.type])};
}"""


@pytest.fixture
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _shot(page, name: str) -> bytes:
    data = page.screenshot()
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        (Path(SHOTS) / f"{name}.png").write_bytes(data)
    return data


def _ready_map(page, url: str):
    """Open url and return the latent map's component frame once its map is drawn."""
    page.goto(url)
    page.wait_for_selector(READY, timeout=60_000)
    (frame,) = map_frames(page, 1)
    return frame


def _frame_box(page) -> dict:
    return page.locator("iframe[title*='latent_map']").last.bounding_box()


def _on_page(page, found: dict) -> dict:
    """TRACE_PIXELS' points (frame coordinates) in the page's coordinates."""
    box = _frame_box(page)
    return {**found, "points": [{**q, "x": q["x"] + box["x"], "y": q["y"] + box["y"]} for q in found["points"]]}


def _a_point(page, frame) -> dict:
    box, target = _frame_box(page), frame.evaluate(FIND_POINT, "#plot")
    return {**target, "x": box["x"] + target["x"], "y": box["y"] + target["y"]}


def test_the_sigma_rings_are_drawn_over_the_webgl_points(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    frame = _ready_map(page, f"{server}/latent_map")
    found = frame.evaluate(TRACE_PIXELS, "^prior [123]σ$")
    order = [name for name, _ in found["order"]]
    rings = [i for i, name in enumerate(order) if name.startswith("prior ") and "σ" in name]
    points = [i for i, name in enumerate(order) if name.isdigit() or name == "prior samples"]
    assert len(rings) == 3 and min(rings) > max(points)                  # drawn after (over) every point
    assert {kind for name, kind in found["order"] if name in ("prior 1σ", "prior 2σ", "prior 3σ")} == {"scattergl"}
    _shot(page, "latent_map_rings_1400x1000")


def test_presentation_mode_fits_1920x1080_and_a_click_lands_beside_the_map_and_a_reload_keeps_it(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    _ready_map(page, f"{server}/latent_map")
    page.get_by_text("Presentation mode", exact=True).click()
    page.wait_for_function("() => location.search.includes('present=1')", timeout=30_000)
    page.wait_for_selector(READY, timeout=60_000)
    (frame,) = map_frames(page, 1, drawn="() => document.querySelector('#plot')._fullLayout.height <= 560")
    page.wait_for_timeout(1000)                                          # the frame's new height has settled
    box = _frame_box(page)
    chart = {"bottom": box["y"] + box["height"], "right": box["x"] + box["width"]}
    assert chart["bottom"] <= 1080, chart                                # the whole map on the screen
    target = _a_point(page, frame)
    page.mouse.move(target["x"], target["y"])
    page.mouse.click(target["x"], target["y"])
    original = page.get_by_text(f"Original (label {target['label']})")
    original.wait_for(timeout=90_000)
    page.wait_for_selector(READY, timeout=30_000)
    image_box = page.locator("[data-testid='stImage']").first.bounding_box()
    assert image_box["y"] < 1080 and image_box["x"] > chart["right"] - 5, (image_box, chart)   # beside the map
    _shot(page, "presentation_1920x1080_clicked")
    query = parse_qs(urlsplit(page.url).query)
    assert query["present"] == ["1"] and query["point"][0].startswith("encoded:")

    page.reload()
    page.wait_for_selector(READY, timeout=60_000)
    map_frames(page, 1)
    assert page.locator("[data-testid='stSidebar'] input[role='switch'], [data-testid='stSidebar'] "
                        "input[type='checkbox']").first.is_checked()
    page.get_by_text(f"Original (label {target['label']})").wait_for(timeout=90_000)    # the point, still clicked


def test_the_share_link_opens_the_same_view_in_a_new_session(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    frame = _ready_map(page, f"{server}/latent_map")
    target = _a_point(page, frame)
    page.mouse.move(target["x"], target["y"])
    page.mouse.click(target["x"], target["y"])
    page.get_by_text(f"Original (label {target['label']})").wait_for(timeout=90_000)
    page.wait_for_selector(READY, timeout=30_000)
    page.get_by_text("Share this view").click()
    link = page.locator("[data-testid='stSidebar'] [data-testid='stCode'] code").first.inner_text().strip()
    parts = urlsplit(link)
    assert parts.path.endswith("/latent_map") and "user" not in parse_qs(parts.query), link
    student = browser.new_page(viewport={"width": 1400, "height": 1000})
    _ready_map(student, link)
    student.get_by_text(f"Original (label {target['label']})").wait_for(timeout=90_000)
    assert "user=" in student.url                                        # a session (and token) of its own
    assert parse_qs(urlsplit(student.url).query)["user"] != parse_qs(urlsplit(page.url).query)["user"]


def test_the_drawn_digits_star_shows_over_the_points(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/draw")
    page.wait_for_selector(READY, timeout=60_000)
    _draw_stroke(page)
    page.get_by_text("Where it lands").wait_for(timeout=30_000)
    page.wait_for_selector(READY, timeout=30_000)
    (frame,) = map_frames(page, 1, drawn="() => !!document.querySelector('#plot.js-plotly-plot')")
    found = frame.evaluate(TRACE_PIXELS, "^your digit$")
    assert found["order"][-1] == ["your digit", "scattergl"]            # the last WebGL trace: on top
    page.locator("iframe[title*='latent_map']").last.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    [star] = _on_page(page, frame.evaluate(TRACE_PIXELS, "^your digit$"))["points"]
    from io import BytesIO

    from PIL import Image

    shot = Image.open(BytesIO(_shot(page, "draw_star"))).convert("RGB")
    r, g, b = shot.getpixel((round(star["x"]), round(star["y"])))
    assert (r, g, b) == (0xE1, 0x57, 0x59) or (r > 180 and g < 120 and b < 120), (r, g, b)   # the star's red
