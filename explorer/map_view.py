"""The latent map that decodes in the browser (explorer/map_component), and the files it reads.

The component draws the very Plotly figure that explorer.figures builds, and runs the model's decoder (an ONNX
file, aae_core.onnx_export) in the browser with onnxruntime-web: hovering a point or dragging a slider decodes
there, without a message to the server. Click still selects a point (the value the pages read).

What the browser needs besides the figure (the decoder, the codes of the test images and prior samples, the test
images themselves) is written once into $AAE_CACHE_DIR/browser/ and served from there as static files by a
second, never-drawn component (Streamlit serves a declared component's folder at /component/<name>/, with
Cache-Control: public). The names are content hashes (the decoder: the weights' fingerprint), so a file never
changes under its URL; the browser also keeps each one in IndexedDB, so its bytes travel at most once per browser.

Where the component cannot run (AppTest, or a client that is no web browser) the pages fall back
to st.plotly_chart and decode on the server, as before."""

from __future__ import annotations

import functools
import gzip
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

import aae_core
from aae_core import map_cache
from aae_core.fsutil import atomic_write
from explorer import figures, models, selection

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from aae_core.data import ImageSet
    from aae_core.families import AAEModel
    from aae_core.projection import LatentMap
    from explorer.picker import Current, Pick
    from explorer.selection import MapClick

BUILD_DIR = Path(__file__).resolve().parent / "map_component" / "build"
_MAP = components.declare_component("latent_map", path=str(BUILD_DIR))


def files_dir() -> Path:
    """$AAE_CACHE_DIR/browser (default ~/.cache/aae_explorer/browser): what the component fetches."""
    return map_cache.user_cache_dir("-").parent.parent / "browser"


@functools.lru_cache(maxsize=8)
def _files_component(folder: str) -> str:
    """Declare (once per folder) the component that only serves `folder`; returns its URL path from the
    map component's frame (both live under /component/)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return "../" + components.declare_component("latent_map_files", path=folder).name + "/"


def in_browser() -> bool:
    """Whether this session is a web browser's, which can run the component: AppTest sends no request headers,
    and bare protocol clients (benchmarks/lecture_hall.py) no browser's User-Agent ("Mozilla/5.0 ...")."""
    try:
        return "Mozilla/" in (st.context.headers.get("User-Agent") or "")
    except Exception:  # noqa: BLE001 - no context (bare mode): no browser either
        return False


def _write_once(file: Path, data: bytes) -> None:
    """Write data gzipped to file (NAME.gz) atomically, unless it is there already (names are content hashes).
    Streamlit serves a .gz file as application/gzip, which its gzip middleware leaves alone: compressed once
    here, not for every browser that fetches it; the frame inflates it."""
    if file.is_file():
        return
    packed = gzip.compress(data, compresslevel=6, mtime=0)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(file, lambda tmp: tmp.write_bytes(packed), mode=0o644)


def publish(array: np.ndarray) -> str:
    """Put a float32 / uint8 array where the browser can fetch it; returns its URL (relative to the map
    component's frame). The file name is the hash of its bytes."""
    data = np.ascontiguousarray(array).tobytes()
    name = hashlib.sha256(data).hexdigest()[:24] + f".{np.asarray(array).dtype.name}.gz"
    folder = files_dir()
    _write_once(folder / name, data)
    return _files_component(str(folder)) + name


def decoder_url(model: AAEModel, fingerprint: str) -> str:
    """The model's decoder as ONNX (made on first use, then kept per weights' fingerprint); its URL."""
    folder = files_dir()
    file = folder / f"{fingerprint}.onnx.gz"
    if not file.is_file():
        with tempfile.TemporaryDirectory() as tmp:          # not in the served folder
            _write_once(file, aae_core.onnx_export.export_decoder(model, Path(tmp) / "decoder.onnx").read_bytes())
    return _files_component(str(folder)) + file.name


@st.cache_resource(max_entries=16, show_spinner="Preparing the map for decoding in your browser...")
def _model_files(fingerprint: str, method: str, _cur: Current, _lmap: LatentMap, _test: ImageSet | None) -> dict:
    """The URLs of one model's files (cached per fingerprint and map method: made once per server)."""
    model, config = _cur.model, _cur.config
    files: dict[str, Any] = {"decoder": decoder_url(model, fingerprint), "codes": publish(_lmap.z.astype(np.float32)),
                             "prior": publish(_lmap.prior_z.astype(np.float32)), "images": None, "class_codes": None,
                             "prior_labels": None}
    if _lmap.prior_labels is not None:
        files["prior_labels"] = publish(np.asarray(_lmap.prior_labels, dtype=np.uint8))
    if _test is not None and len(_test) == _lmap.n_test:
        files["images"] = _test_images_url(config.dataset, _test)
        if _cur.family.classes:
            files["class_codes"] = publish(aae_core.explore.reconstruction_class_codes(model, _test))
    return files


@st.cache_resource(max_entries=4, show_spinner=False)
def _test_images_url(dataset: str, _test: ImageSet) -> str:
    return publish(_test.images.cpu().numpy().astype(np.uint8))


# The trace types the component's Plotly bundle registers (frontend/src/plotly.js: Plotly's core and these, a third
# of the full bundle's size and start-up, for a frame made on every page that shows a map). A figure with any
# other type is drawn by st.plotly_chart on the server path instead.
BROWSER_TRACES = frozenset({"scatter", "scattergl", "heatmap"})


@dataclass(frozen=True)
class MapFigure:
    """A latent map's figure that every session showing the same view shares (map_figure): never changed."""

    figure: go.Figure

    @functools.cached_property
    def drawable_in_browser(self) -> bool:
        """Whether the component's Plotly bundle has every trace type of the figure."""
        return all(trace.type in BROWSER_TRACES for trace in self.figure.data)

    @functools.cached_property
    def json(self) -> str:
        """The figure as the map component reads it (made once)."""
        return self.figure.to_json()


@st.cache_resource(max_entries=32, show_spinner=False)
def _map_figure(fingerprint: str, method: str, places: str, show_prior: bool, presentation: bool,
                gaussian_std: float | None, note: str | None, _lmap: LatentMap) -> MapFigure:
    return MapFigure(figures.latent_map_figure(_lmap, show_prior=show_prior, presentation=presentation,
                                               gaussian_std=gaussian_std, note=note))


def map_figure(pick: Pick, lmap: LatentMap, *, show_prior: bool, presentation: bool,
               note: str | None = None) -> MapFigure:
    """The Latent map page's figure of the picked model's map (figures.latent_map_figure), built once per server
    for each view (the model's weights, the map: its method and what it places where, prior samples shown,
    presentation mode, note) and shared: a rerun that draws the same view again does not build it again."""
    places = hashlib.sha256()
    for part in (lmap.xy, lmap.prior_xy, lmap.labels, lmap.prior_labels):
        places.update(b"-" if part is None else np.ascontiguousarray(part).tobytes())
    return _map_figure(pick.fingerprint, lmap.method, places.hexdigest(), show_prior, presentation,
                       pick.gaussian_std, note, lmap)


def _component_click(value: object) -> MapClick | None:
    """The click the map component reports ({"point": a point as st.plotly_chart's selection reports one}); a
    modified browser may send any shape."""
    return selection.click_from_point(value.get("point") if isinstance(value, dict) else None)


def browser_map(cur: Current, lmap: LatentMap, fig: MapFigure, *, key: str, config: dict | None = None,
                test: ImageSet | None = None, on_change: Callable[[], None] | None = None) -> MapClick | None:
    """Draw the map in the browser component, which decodes on hover. Returns the click it reports, or None."""
    files = _model_files(cur.fingerprint, lmap.method, cur, lmap, test)
    n_classes = cur.config.n_classes if cur.family.classes else 0
    value = _MAP(figure=fig.json, config=config or {"displaylogo": False}, files=files,
                 latent_dim=lmap.latent_dim, n_classes=n_classes, class_noun=cur.family.classes.noun or "class",
                 spot_decodes=lmap.method == "latent" and lmap.latent_dim == 2, image_shape=[28, 28],
                 key=key, default=None, on_change=on_change)
    return _component_click(value)


def map_chart(model: Callable[[], Current], lmap: LatentMap, fig: go.Figure | MapFigure, *, key: str,
              config: dict | None = None, clickable: bool = True,
              on_click: Callable[[MapClick | None], None] | None = None) -> MapClick | None:
    """The latent map for any page: in a browser, the component that decodes on hover (model() gives the
    loaded model of the map, asked only there); elsewhere (AppTest) st.plotly_chart, as before. Returns the
    click (what widgets.remember_click places) or None; what no chart sends is None too.

    on_click: called with the click (None where it names no point) from the chart's own callback, before the
    rerun a click causes, so that it can make that rerun a fragment's (st.rerun with the fragment's key): the
    map is then neither built nor sent again."""
    shared = fig if isinstance(fig, MapFigure) else MapFigure(fig)
    if in_browser() and shared.drawable_in_browser:
        cur, browser_key = model(), f"{key}_browser"
        changed = (lambda: on_click(_component_click(st.session_state.get(browser_key)))) if on_click else None
        point = browser_map(cur, lmap, shared, key=browser_key, config=config,
                            test=models.test_set(cur.config.dataset), on_change=changed)
        return point if clickable else None
    if not clickable:
        st.plotly_chart(shared.figure, key=key, config=config or {"displaylogo": False})
        return None
    changed = (lambda: on_click(selection.click_from_event(st.session_state.get(key)))) if on_click else "rerun"
    event = st.plotly_chart(shared.figure, key=key, on_select=changed, selection_mode="points",
                            config=config or {"displaylogo": False})
    return selection.click_from_event(event)


def _decoder_args(cur: Current) -> dict:
    return dict(files={"decoder": decoder_url(cur.model, cur.fingerprint)}, latent_dim=cur.config.latent_dim,
                n_classes=cur.config.n_classes if cur.family.classes else 0,
                class_noun=cur.family.classes.noun or "class", image_shape=[28, 28])


def browser_sliders(cur: Current, z: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_sliders: int, *,
                    class_code: int | None, key: str, sweep: bool = False) -> tuple[np.ndarray, int | None] | None:
    """Sliders for the first n_sliders coordinates of the code z [d] (ranges lo, hi), with the decoded image
    above them (sweep: the image with every class code, Style × class), decoded in the browser while dragged.
    Returns (z, class code) once a slider is let go (or a class picked) and it differs from what was shown,
    else None."""
    value = _MAP(mode="sweep" if sweep else "sliders", z=[float(v) for v in z], n_sliders=n_sliders,
                 lo=[float(v) for v in lo[:n_sliders]], hi=[float(v) for v in hi[:n_sliders]],
                 class_code=class_code, key=key, default=None, **_decoder_args(cur))
    if not value:
        return None
    seen = st.session_state.get(f"{key}_seen")
    st.session_state[f"{key}_seen"] = value
    if value == seen:
        return None
    return np.asarray(value["z"], dtype=np.float32), value.get("class_code")


def browser_line(cur: Current, z_a: np.ndarray, z_b: np.ndarray, y_a: np.ndarray | None, y_b: np.ndarray | None,
                 *, key: str) -> None:
    """A slider t in [0, 1] that decodes (1 - t) z_a + t z_b (and the class codes [K] the same way, for models
    that take one) in the browser while dragged."""
    def listed(v):
        return None if v is None else [float(x) for x in np.ravel(v)]

    _MAP(mode="line", z_a=listed(z_a), z_b=listed(z_b), y_a=listed(y_a), y_b=listed(y_b), key=key, default=None,
         **_decoder_args(cur))
