"""A click on the latent map, against a real server (`streamlit run app.py`) spoken to over Streamlit's own
websocket protocol (benchmarks/lecture_hall.py's client): the click reruns only the decoded point and the share
link (fragments), so the map is neither built nor sent again; and the click still reaches the URL."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from conftest import tiny_config

import aae_core
from aae_core import projection
from benchmarks._common import start_app, stop_app
from benchmarks.lecture_hall import ENCODED, Session, _widget
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
