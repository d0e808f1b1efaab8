"""explorer.selection: what a browser reports of a click on a latent map is checked, and placed on its map."""

from __future__ import annotations

import numpy as np
import pytest

from aae_core.map_cache import LatentMap
from explorer.selection import ENCODED, GRID, PRIOR, MapClick, click_from_event, click_from_point, drawn, place


def _map(method: str = "latent") -> LatentMap:
    z = np.arange(10, dtype=np.float32).reshape(5, 2)
    prior = -np.arange(6, dtype=np.float32).reshape(3, 2)
    return LatentMap(method=method, fingerprint="f" * 64, dataset="mnist", z=z, labels=np.arange(5), prior_z=prior,
                     xy=z, prior_xy=prior)


@pytest.mark.parametrize("point, click", [
    ({"customdata": [0, 3, 7], "x": 1.0, "y": 2.0}, MapClick(ENCODED, 3, 1.0, 2.0)),
    ({"customdata": {"0": 1, "1": 2.0, "2": -1}}, MapClick(PRIOR, 2)),              # a typed array's row
    ({"customdata": [2, 0, -1], "x": 0.5, "y": float("nan")}, MapClick(GRID, 0, 0.5, None)),
    ({"customdata": [7, 3, -1]}, None),                                             # no such source
    ({"customdata": [True, 3, -1]}, None),
    ({"customdata": {"1": 0, "2": 3}}, None),
    ({"customdata": [0]}, None),
    ({"customdata": "0,3"}, None),
    ("not a point", None),
])
def test_a_reported_point_becomes_a_click_or_nothing(point, click):
    assert click_from_point(point) == click


def test_a_selection_event_gives_its_first_point():
    event = {"selection": {"points": [{"customdata": [1, 1, -1]}, {"customdata": [0, 0, -1]}]}}
    assert click_from_event(event) == MapClick(PRIOR, 1)
    for odd in (None, 3, {"selection": 5}, {"selection": {"points": "x"}}, {"selection": {"points": []}}):
        assert click_from_event(odd) is None


def test_a_click_is_placed_on_its_map_or_dropped():
    lmap = _map()
    sel = place(MapClick(ENCODED, 4), lmap, "ref", "fp")
    assert (sel.source, sel.index, sel.z, sel.ref, sel.fingerprint) == ("encoded", 4, (8.0, 9.0), "ref", "fp")
    assert sel.code.dtype == np.float32 and sel.code.tolist() == [8.0, 9.0]
    assert place(MapClick(PRIOR, 2), lmap, "ref", "fp").z == (-4.0, -5.0)
    assert place(MapClick(GRID, None, 1.5, -2.0), lmap, "ref", "fp").z == (1.5, -2.0)
    assert place(MapClick(ENCODED, 5), lmap, "ref", "fp") is None                   # past the map
    assert place(MapClick(PRIOR, -1), lmap, "ref", "fp") is None
    assert place(MapClick(GRID, None, 1.5, None), lmap, "ref", "fp") is None        # no coordinates
    assert place(MapClick(GRID, 0, 1.0, 1.0), _map("pca"), "ref", "fp") is None     # a spot of PCA is no code


def test_a_drawn_digit_is_a_point_of_its_own_kind():
    sel = drawn("ref", "fp", np.array([[0.25, -1.0]]))
    assert (sel.source, sel.index, sel.z) == ("drawn", -1, (0.25, -1.0))
