"""The Draw page's services: the drawing canvas (streamlit-drawable-canvas), the drawing prepared as MNIST was
(aae_core.preprocess.to_mnist), and handing the drawn digit to the pages that explore a point."""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from PIL import Image

from aae_core.preprocess import to_mnist
from explorer import selection
from explorer.state import MODEL_KEY

if TYPE_CHECKING:
    from explorer.picker import Current

CANVAS_SIZE = 280          # ten screen pixels per MNIST pixel
STROKE = 22                # about 2 MNIST pixels once a digit's box is scaled to 20: MNIST's own stroke width
PAGES = "explorer/pages"
GO_KEY = "draw_go"
# The canvas sends a PNG of its own size (toDataURL with multiplier 1); twice that leaves room for a high-density
# screen. Anything larger comes from a modified browser: a 0.56 MB message holding a 12,000² PNG took the server
# to a 5.8 GB peak when it was decoded, so the size is read from the PNG's header and checked first.
MAX_SIDE = 2 * CANVAS_SIZE
MAX_DATA_URL = 2 * 1024 * 1024   # characters: a 560² RGBA PNG of pure noise is about 1.7 M in base64
PNG_DATA_URL = "data:image/png;base64,"
REFUSED = "The canvas sent something that is not a drawing of its size, so it was ignored: clear it and draw again."

log = logging.getLogger(__name__)


class CanvasRefused(ValueError):
    """What the canvas sent is not a PNG of at most MAX_SIDE² pixels (a modified browser): it is not decoded."""


def image_from_data_url(url: object) -> np.ndarray:
    """The canvas's PNG data URL -> RGBA uint8 [H, W, 4]. Refuses (CanvasRefused) anything but a PNG data URL of
    at most MAX_DATA_URL characters whose header says at most MAX_SIDE pixels a side, before decoding it."""
    if not isinstance(url, str) or not url.startswith(PNG_DATA_URL):
        raise CanvasRefused("not a PNG data URL")
    if len(url) > MAX_DATA_URL:
        raise CanvasRefused(f"a data URL of {len(url):,} characters (at most {MAX_DATA_URL:,})")
    try:
        raw = base64.b64decode(url[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CanvasRefused("not base64") from exc
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as png:   # reads the header, not the pixels
            width, height = png.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise CanvasRefused(f"a {width}×{height} image (the canvas is {CANVAS_SIZE}×{CANVAS_SIZE})")
            return np.asarray(png.convert("RGBA"))
    except CanvasRefused:
        raise
    except Exception as exc:   # crafted bytes reach PIL's decoders, which raise OSError, SyntaxError, zlib errors...
        raise CanvasRefused(f"not a readable PNG ({type(exc).__name__}: {exc})") from exc


def _data_url(value: object) -> object:
    """The drawing's data URL in the canvas's value ({"drawing": {"raw": ..., "data": url}, ...}); None when none."""
    drawing = value.get("drawing") if isinstance(value, dict) else None
    return drawing.get("data") if isinstance(drawing, dict) else None


def canvas(key: str, st_canvas: Callable[..., object]) -> np.ndarray | None:
    """The canvas (white ink on black, as MNIST) and what is drawn on it as an MNIST image uint8 [28, 28]; None
    while it is blank, and None with one line of warning when its value is not what a canvas sends.
    st_canvas is streamlit-drawable-canvas's component, which the Draw page imports: importing it outside a
    running app raises (it is a components-v2 component), so this module, which tests import, does not."""
    try:
        st_canvas(stroke_width=STROKE, stroke_color="#FFFFFF", background_color="#000000", width=CANVAS_SIZE,
                  height=CANVAS_SIZE, drawing_mode="freedraw", key=key, return_image_data=True)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:   # st_canvas reads its value unchecked
        log.warning("ignored a canvas value that no canvas sends: %s: %s", type(exc).__name__, exc)
        st.warning(REFUSED, icon=":material/block:")
        return None
    url = _data_url(st.session_state.get(key))
    if url is None:
        return None
    try:
        return to_mnist(image_from_data_url(url))
    except CanvasRefused as exc:
        log.warning("ignored a canvas value that no canvas sends: %s", exc)
        st.warning(REFUSED, icon=":material/block:")
        return None


def remember(image: np.ndarray) -> None:
    """Keep the drawn digit for every page's point picker (widgets.point_picker's 'Drawn digit' source)."""
    st.session_state.drawn_digit = np.asarray(image, np.uint8).tolist()


def send_to(cur: Current, z: np.ndarray, page: str) -> None:
    """A button's callback: make the drawn digit's code the clicked point (the sliders start from it, the point
    pickers offer it) and the starting source of the page's point picker, then go to `page` (the page calls
    follow() first thing)."""
    ss = st.session_state
    ss[MODEL_KEY] = cur.ref   # the pick, said again: a page switch must not fall back to the picker's default
    ss.selected = selection.drawn(cur.ref, cur.fingerprint, z)
    z = list(ss.selected.z)
    if page == "sliders":
        ss.slider_z = {"fingerprint": cur.fingerprint, "z": z}
        ss.pop(f"slider_{cur.fingerprint[:10]}_0", None)   # the Sliders page starts from slider_z on a first visit
    elif page == "style_class":
        ss["style_source"] = "Drawn digit"
    elif page == "interpolate":
        ss["interp_a_source"] = "Drawn digit"
    ss[GO_KEY] = f"{PAGES}/{page}.py"


def follow() -> None:
    """Switch to the page a send_to callback chose, if any."""
    go = st.session_state.pop(GO_KEY, None)
    if go:
        st.switch_page(go)
