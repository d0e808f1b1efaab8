"""What a modified browser can send the server: canvas values and map clicks that no real canvas or chart sends.
Each is refused cheaply (nothing large decoded) and shown as one line or ignored, never as a traceback."""

from __future__ import annotations

import base64
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from conftest import ok, open_page
from PIL import Image, ImageFile
from test_teaching_views import a_seven, canvas_state, draw, shipped  # noqa: F401

from explorer import drawing
from explorer.state import MAP_CHART_KEY

MB = 1024 * 1024


def png_url(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def blank_png(side: int) -> bytes:
    """A valid 1-bit black PNG side × side, made without ever holding the image: its rows compress ~1000:1, so
    a 12,000² one is a 25 kB data URL that decodes to 144 M pixels (576 MB as float32)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows, packer = bytes((1 + (side + 7) // 8) * 500), zlib.compressobj(9)
    idat = b"".join(packer.compress(rows) for _ in range(side // 500)) + packer.flush()
    assert side % 500 == 0
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def rgba_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Any decoding of a PNG's pixels fails the test (reading its header is allowed)."""
    def load(self):
        raise AssertionError(f"decoded the pixels of a {self.size} image")
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


# --- the Draw page's canvas ---------------------------------------------------------------------------
def test_a_canvas_png_far_above_the_canvas_size_is_refused_from_its_header(no_pixel_decoding):
    url = png_url(blank_png(12_000))
    assert len(url) < 100_000                              # a small message...
    tracemalloc.start()
    try:
        with pytest.raises(drawing.CanvasRefused, match="12000×12000"):
            drawing.image_from_data_url(url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB, peak                             # ...costs no more than itself to refuse


def test_a_canvas_data_url_above_the_cap_is_refused_before_base64_decoding(monkeypatch):
    monkeypatch.setattr(base64, "b64decode", lambda *a, **k: pytest.fail("decoded an oversized data URL"))
    url = "data:image/png;base64," + "A" * drawing.MAX_DATA_URL
    with pytest.raises(drawing.CanvasRefused, match="characters"):
        drawing.image_from_data_url(url)


@pytest.mark.parametrize("url", [None, 42, ["data:image/png;base64,"], "data:text/html;base64,PGI+",
                                 "data:image/png;base64,!!!not base64!!!", png_url(b"\x89PNG\r\n\x1a\nshort"),
                                 png_url(rgba_png(np.zeros((4, 4, 4), np.uint8))[:45]),
                                 png_url(b"GIF89a" + bytes(30))])
def test_what_is_not_a_png_data_url_is_refused(url):
    with pytest.raises(drawing.CanvasRefused):
        drawing.image_from_data_url(url)


def test_a_canvas_of_its_own_size_still_decodes():
    canvas = a_seven()
    got = drawing.image_from_data_url(png_url(rgba_png(canvas)))
    assert got.shape == (280, 280, 4) and got.dtype == np.uint8 and np.array_equal(got, canvas)
    grey = np.zeros((280, 280), np.uint8)
    grey[100:180, 130:150] = 255
    assert np.array_equal(drawing.image_from_data_url(png_url(rgba_png(grey)))[..., 0], grey)


def test_a_bomb_sent_as_the_canvas_is_refused_in_one_line_without_memory(app, shipped):  # noqa: F811
    open_page(app, "draw", "semi_supervised_100", shipped)
    tracemalloc.start()
    try:
        app.session_state["draw_canvas"] = {"drawing": {"raw": {"objects": []}, "data": png_url(blank_png(12_000))},
                                            "backgroundFit": None}
        ok(app.run())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * MB, f"{peak / MB:.0f} MB"
    assert [w.value for w in app.warning] == [drawing.REFUSED]
    assert not app.image and app.session_state["drawn_digit"] is None
    draw(app, a_seven())                                    # a real drawing afterwards works as before
    assert not app.warning and np.asarray(app.session_state["drawn_digit"]).shape == (28, 28)


@pytest.mark.parametrize("value", [
    "a string", 42, [1, 2], {"drawing": "x", "backgroundFit": None},
    {"drawing": {"raw": None, "data": 42}, "backgroundFit": None},
    {"drawing": {"raw": None, "data": "data:image/png;base64,%%%"}, "backgroundFit": None},
    {"drawing": None, "backgroundFit": {"naturalWidth": 3}},
    {"drawing": {"raw": "x", "data": None}, "backgroundFit": "x"},
])
def test_crafted_canvas_values_are_ignored_or_one_line(app, shipped, value):  # noqa: F811
    open_page(app, "draw", "semi_supervised_100", shipped)
    app.session_state["draw_canvas"] = value
    ok(app.run())
    assert [w.value for w in app.warning] in ([], [drawing.REFUSED])
    assert not app.image and app.session_state["drawn_digit"] is None
    assert any("Draw a digit on the canvas" in i.value for i in app.info)


# --- the latent map's clicks ------------------------------------------------------------------------------
def crafted_click(at, point) -> None:
    at.session_state[MAP_CHART_KEY] = {"selection": {"points": [point], "point_indices": [0], "box": [],
                                                     "lasso": []}}
    ok(at.run())


@pytest.mark.parametrize("point", [
    {"customdata": [0, 10**9, -1], "x": 0, "y": 0},          # an index far past the test set
    {"customdata": [0, -5, -1], "x": 0, "y": 0},             # a negative index
    {"customdata": [1, 10**9, -1], "x": 0, "y": 0},          # past the prior samples
    {"customdata": ["encoded", "seven", -1]},                # strings
    {"customdata": [0, 1e300, -1]},                          # a float too large for an index
    {"customdata": [0, float("nan"), -1]},
    {"customdata": [[0, 1], [2, 3]]},                        # a wrong shape
    {"customdata": {"a": 0, "b": 1}},                        # a typed-array row with keys that are not indices
    {"customdata": 7},
    {"customdata": [2, 0, -1], "x": "left", "y": None},      # an empty spot with coordinates that are not numbers
    {"customdata": [2, 0, -1], "x": float("inf"), "y": 0},
    {"customdata": [2, 0, -1]},                              # an empty spot with no coordinates
    "not a point", None, 12,
])
def test_crafted_map_clicks_are_ignored(app, point):  # noqa: F811
    open_page(app, "latent_map")
    crafted_click(app, point)
    assert app.session_state["selected"] is None
    assert not app.image


@pytest.mark.parametrize("selection", ["x", {"points": "x"}, {"points": {"0": 1}}, {"selection": 5}, 3])
def test_crafted_map_selections_are_ignored(app, selection):  # noqa: F811
    open_page(app, "latent_map")
    app.session_state[MAP_CHART_KEY] = {"selection": selection}
    ok(app.run())
    assert app.session_state["selected"] is None


def test_a_genuine_click_still_decodes_after_crafted_ones(app):  # noqa: F811
    open_page(app, "latent_map")
    crafted_click(app, {"customdata": [0, 10**9, -1]})
    crafted_click(app, {"customdata": {"0": 0, "1": 3, "2": -1}, "x": 0.0, "y": 0.0})
    assert app.session_state["selected"].index == 3 and app.image
