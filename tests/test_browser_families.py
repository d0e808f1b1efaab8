"""The browser decodes for every model family: one tiny model per family behind a real server, the Latent map (and
the Classes page's map, where a model has classes) opened in the system Chromium, a test point hovered, and its
reconstruction decoded in the frame by that family's exported decoder (conditional decoders take their class
code; a >2-D model's map is a projection)."""

from __future__ import annotations

import dataclasses
import os

import pytest
from conftest import save_models, tiny_config
from model_cases import MODEL_CASES
from test_browser import FIND_POINT, map_frames, page  # noqa: F401 - the page fixture

from aae_core import projection
from benchmarks._common import READY, running_app

pytestmark = pytest.mark.browser


# The map drawn and the decoder loaded (an untrained model's Classes map may have a single trace).
DRAWN = """() => { const gd = document.querySelector("#plot.js-plotly-plot");
  return gd && gd._fullLayout && gd.calcdata && gd.data.length > 0 && window.aaeStats && window.aaeStats.ready; }"""

# folder name -> tiny config: every family (model_cases' tiny ones), 2-D where its shipped model is 2-D
FAMILIES = {name: MODEL_CASES[name] for name in ("semi_supervised", "clustering")} | {
    "unsupervised_mixture": MODEL_CASES["label_conditioned_mixture"],
    "supervised": dataclasses.replace(MODEL_CASES["supervised"], latent_dim=2),
    "vae": dataclasses.replace(MODEL_CASES["vae"], latent_dim=2),
    "alae": tiny_config("alae", latent_dim=5),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_mnist_dir):
    """The app over one tiny checkpoint per family, maps precomputed (a >2-D model's PCA map also stands as its
    UMAP map, so that no UMAP fit runs here); always stopped."""
    root = tmp_path_factory.mktemp("families")
    save_models(root / "checkpoints", FAMILIES)
    for name, config in FAMILIES.items():
        folder = root / "checkpoints" / name
        if config.latent_dim == 2:
            projection.precompute(folder, data_dir=fake_mnist_dir)
        else:
            projection.precompute(folder, ("pca",), data_dir=fake_mnist_dir)
            pca = projection.read_cache(projection.cache_candidates("pca", projection.weights_fingerprint(folder),
                                                                    folder)[0], "pca",
                                        projection.weights_fingerprint(folder))
            projection.save_cached(projection.LatentMap(**{**pca.__dict__, "method": "umap"}), folder)
    env = {**os.environ, "AAE_CHECKPOINTS_DIR": str(root / "checkpoints"), "AAE_RUNS_DIR": str(root / "runs"),
           "AAE_DATA_DIR": fake_mnist_dir, "AAE_CACHE_DIR": str(root / "cache"), "AAE_DEVICE": "cpu"}
    with running_app(env, root / "server.log") as url:
        yield url


def _hover_decodes(tab, url: str) -> str:
    """Open url in the tab, hover the most isolated test point of its map; the frame's caption once it decoded it."""
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(url)
    tab.wait_for_selector(READY, timeout=90_000)
    (frame,) = map_frames(tab, 1, drawn=DRAWN)
    tab.locator("iframe[title*='latent_map']").scroll_into_view_if_needed()    # (the Classes map is further down)
    tab.wait_for_timeout(300)
    box = tab.locator("iframe[title*='latent_map']").bounding_box()
    target = frame.evaluate(FIND_POINT, "#plot")
    plot_top = "() => document.getElementById('plot').getBoundingClientRect().top"
    top = frame.evaluate(plot_top)
    tab.mouse.move(box["x"] + target["x"], box["y"] + target["y"], steps=3)
    frame.wait_for_function("() => document.getElementById('caption').textContent.startsWith('test image #')"
                            " || window.aaeStats.error", timeout=30_000)     # (spots on the way decode first)
    assert frame.evaluate("() => window.aaeStats.error") is None and not errors, errors
    assert frame.evaluate(plot_top) == top, "the map moved under the pointer when the decoded image appeared"
    pixels = frame.evaluate("() => Array.from(document.getElementById('canvas-b').getContext('2d')"
                            ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))")
    assert len(set(pixels)) > 1, "the reconstruction drawn is one flat colour"
    return frame.evaluate("() => document.getElementById('caption').textContent")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_hovering_a_test_point_decodes_it_in_the_browser_for_every_family(server, page, name):  # noqa: F811
    caption = _hover_decodes(page, f"{server}/latent_map?model={name}")
    assert caption.startswith("test image #"), caption


@pytest.mark.parametrize("name", ["semi_supervised", "clustering"])
def test_the_classes_pages_map_decodes_on_hover_too(server, page, name):  # noqa: F811
    caption = _hover_decodes(page, f"{server}/classes?model={name}")
    assert caption.startswith("test image #"), caption
