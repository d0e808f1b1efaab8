"""The Draw page's services: the drawing canvas (streamlit-drawable-canvas), the drawing prepared as MNIST was
(aae_core.preprocess.to_mnist), and handing the drawn digit to the pages that explore a point."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from aae_core.preprocess import to_mnist

if TYPE_CHECKING:
    from explorer.picker import Current

CANVAS_SIZE = 280          # ten screen pixels per MNIST pixel
STROKE = 22                # about 2 MNIST pixels once a digit's box is scaled to 20: MNIST's own stroke width
PAGES = "explorer/pages"
GO_KEY = "draw_go"


def canvas(key: str) -> np.ndarray | None:
    """The canvas (white ink on black, as MNIST) and what is drawn on it as an MNIST image uint8 [28, 28]; None
    while it is blank. streamlit-drawable-canvas is a components-v2 component: it is imported here, since importing
    it outside a running app raises."""
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(stroke_width=STROKE, stroke_color="#FFFFFF", background_color="#000000",
                       width=CANVAS_SIZE, height=CANVAS_SIZE, drawing_mode="freedraw", key=key,
                       return_image_data=True)
    data = result.image_data
    return None if data is None else to_mnist(data)


def remember(image: np.ndarray) -> None:
    """Keep the drawn digit for every page's point picker (widgets.point_picker's 'Drawn digit' source)."""
    st.session_state.drawn_digit = np.asarray(image, np.uint8).tolist()


def send_to(cur: Current, z: np.ndarray, page: str) -> None:
    """A button's callback: make the drawn digit's code the clicked point (the sliders start from it, the point
    pickers offer it) and the starting source of the page's point picker, then go to `page` (the page calls
    follow() first thing)."""
    from explorer.state import MODEL_KEY

    ss = st.session_state
    ss[MODEL_KEY] = cur.ref   # the pick, said again: a page switch must not fall back to the picker's default
    z = [float(v) for v in np.asarray(z).ravel()]
    ss.selected = {"ref": cur.ref, "fingerprint": cur.fingerprint, "source": "drawn", "index": -1, "z": z}
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
