"""A click on the latent map, against a real server (`streamlit run app.py`) spoken to over Streamlit's own
websocket protocol (benchmarks/lecture_hall.py's client): the click reruns only the decoded point and the share
link (fragments), so the map is neither built nor sent again; and the click still reaches the URL. And every map
a page shows is one the component's own Plotly (a partial bundle) can draw."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from conftest import synthetic_images, tiny_config

import aae_core
from aae_core import projection
from benchmarks._common import start_app, stop_app
from benchmarks.lecture_hall import ENCODED, Session, _widget
from explorer import figures, game_figures, map_view, teaching_figures
from explorer.figures import PRIOR

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_mnist_dir):
    """The app on a free port of 127.0.0.1 over one tiny 2-D checkpoint whose map is precomputed; always stopped."""
    root = tmp_path_factory.mktemp("map_view")
    folder = aae_core.save(aae_core.build_model(tiny_config("unsupervised"), seed=0),
                           root / "checkpoints" / "unsupervised_gaussian_2d")
    projection.precompute(folder, data_dir=fake_mnist_dir)
    env = {**os.environ, "AAE_CHECKPOINTS_DIR": str(root / "checkpoints"), "AAE_RUNS_DIR": str(root / "runs"),
           "AAE_DATA_DIR": fake_mnist_dir, "AAE_CACHE_DIR": str(root / "cache"), "OMP_NUM_THREADS": "1"}
    proc, url = start_app(env, root / "server.log", REPO)
    try:
        yield url
    finally:
        stop_app(proc)


def _click(chart_id: str, source: int, index: int):
    point = {"curve_number": 0, "point_number": index, "point_index": index, "x": 0.0, "y": 0.0,
             "customdata": [source, index, -1]}
    selection = {"selection": {"points": [point], "point_indices": [index], "box": [], "lasso": []}}
    return _widget(chart_id, string_value=json.dumps(selection))


def test_a_click_reruns_only_the_decoded_point_and_the_share_link(server):
    async def visit():
        stats = {"errors": []}
        s = Session(server, stats)
        await s.open()
        try:
            page, _ = await s.rerun("latent_map")
            chart = page.ids["latent_map_chart"]
            clicked, _ = await s.rerun("latent_map", [_click(chart, ENCODED, 7)], until="Reconstruction")
            prior, _ = await s.rerun("latent_map", [_click(chart, PRIOR, 3)])
            forged, _ = await s.rerun("latent_map", [_click(chart, ENCODED, 10**6)])
        finally:
            await s.close()
        return stats, page, clicked, prior, forged

    stats, page, clicked, prior, forged = asyncio.run(visit())
    assert not stats["errors"], stats["errors"]
    assert "model_ref" in page.ids and page.bytes > 50_000                   # a whole run: picker, map and all
    assert "#### Test image #7" in clicked.texts and "Original (label" in " ".join(clicked.images)
    for reply in (clicked, prior, forged):
        assert "latent_map_chart" not in reply.ids and "model_ref" not in reply.ids   # no map, no sidebar picker
        assert reply.bytes < page.bytes / 10
    assert "point=encoded%3A7" in clicked.query or "point=encoded:7" in clicked.query   # the URL has the click
    assert "#### Prior sample" in prior.texts
    assert "#### Prior sample" in forged.texts and "#### Test image #" not in " ".join(forged.texts)  # ignored


def _page_figures(lmap) -> dict:
    """Every kind of figure a page hands to map_view.map_chart (Latent map with its layers, Compare, Classes, Draw,
    Interpolate), over the map lmap."""
    fig = figures.latent_map_figure
    extent = game_figures.axis_extent(fig(lmap))
    grid = np.random.default_rng(0).random((12, 12))
    push = np.tile([[1.0, 0.0]], (10, 1))
    lattice = np.zeros((3, 3, 28, 28), np.uint8)
    return {
        "latent map": fig(lmap), "presentation": fig(lmap, presentation=True), "no prior": fig(lmap, show_prior=False),
        "critic and push": game_figures.add_critic(fig(lmap), grid, extent, codes=lmap.z[:10, :2], push=push),
        "manifold": game_figures.add_manifold(fig(lmap), lattice, extent),
        "compare": fig(lmap, clickable_background=False, height=440),
        "classes": teaching_figures.prediction_map_figure(lmap, lmap.labels % 3),
        "draw": teaching_figures.with_marker(fig(lmap, clickable_background=False), lmap.xy[0]),
        "interpolate": figures.path_figure(lmap, lmap.xy[:5], zoom=True),
    }


def test_every_map_a_page_shows_is_drawn_by_the_components_own_plotly():
    """The component bundles Plotly's core with only the trace types in map_view.BROWSER_TRACES (its source
    registers exactly those); a map with another type would fail in the frame, so map_chart sends it to the
    server path. Every figure the pages show on a map stays within them."""
    source = (REPO / "explorer/map_component/frontend/src/plotly.js").read_text()
    assert set(re.findall(r'from "plotly\.js/lib/(\w+)"', source)) - {"core"} == set(map_view.BROWSER_TRACES)
    model = aae_core.build_model(tiny_config("unsupervised"), seed=0)
    lmap = projection.compute_map(model, synthetic_images(60), "latent", fingerprint="f", n_prior=20)
    for name, fig in _page_figures(lmap).items():
        assert map_view.MapFigure(fig).drawable_in_browser, (name, {t.type for t in fig.data})
    assert not map_view.MapFigure(go.Figure(go.Bar(x=[1], y=[1]))).drawable_in_browser
