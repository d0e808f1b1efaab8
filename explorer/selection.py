"""A point the user picked: a click on a latent map as the browser reported it (MapClick, checked here, since a
modified browser can send anything), and the point the pages read once it is placed on its model's map
(Selection: a test image, a prior sample, a spot of a 2-D latent, or the digit drawn on the Draw page).

Plain Python and numpy: no Streamlit, no Plotly (the map's customdata codes live here; explorer.figures uses them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from aae_core.projection import LatentMap

# customdata[0] of a latent map's points: an encoded test image, a prior sample, or an invisible point of a 2-D
# latent's background (so that a click on empty space still reports where it landed).
ENCODED, PRIOR, GRID = 0, 1, 2
PointSource = Literal["encoded", "prior", "space", "drawn"]
SOURCE_NAMES: dict[int, PointSource] = {ENCODED: "encoded", PRIOR: "prior", GRID: "space"}


@dataclass(frozen=True)
class MapClick:
    """A click on a latent map: which kind of point (ENCODED, PRIOR or GRID), its index among its kind (None
    for GRID) and where it landed on the chart (x, y; None where the chart did not say)."""

    source: int
    index: int | None
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class Selection:
    """The point last picked, on the map of the model `ref` whose weights' fingerprint is `fingerprint`: its
    code z, where it came from, and its index in the test set (encoded) or the prior samples (prior); -1 for a
    spot of space and for the drawn digit."""

    ref: str
    fingerprint: str
    source: PointSource
    index: int
    z: tuple[float, ...]

    @property
    def code(self) -> np.ndarray:
        """z as float32 [d]."""
        return np.asarray(self.z, dtype=np.float32)


def _whole(value: object) -> int | None:
    """value as an int if it is a whole number (plotly may send 7 or 7.0), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if isinstance(value, int) or (math.isfinite(value) and value.is_integer()) else None


def _finite(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def click_from_point(point: object) -> MapClick | None:
    """The MapClick of one point of a plotly selection ({"customdata": [source, index, label], "x", "y"}, what
    st.plotly_chart and the map component report), or None for anything no chart sends."""
    if not isinstance(point, dict):
        return None
    data = point.get("customdata")
    if isinstance(data, dict):  # a row of a typed array reaches Python as {"0": ..., "1": ..., "2": ...}
        keys = sorted((k for k in data if isinstance(k, str) and k.isdigit()), key=int)
        data = [data[k] for k in keys] if keys == [str(i) for i in range(len(data))] else None
    if not isinstance(data, list) or len(data) < 2:
        return None
    source = _whole(data[0])
    if source not in SOURCE_NAMES:
        return None
    return MapClick(source, _whole(data[1]), _finite(point.get("x")), _finite(point.get("y")))


def click_from_event(event: object) -> MapClick | None:
    """The first clicked point of a plotly chart's selection event ({"selection": {"points": [...]}}), or None."""
    selection = event.get("selection") if isinstance(event, dict) else None
    points = selection.get("points") if isinstance(selection, dict) else None
    return click_from_point(points[0]) if isinstance(points, list) and points else None


def place(click: MapClick, lmap: LatentMap, ref: str, fingerprint: str) -> Selection | None:
    """The Selection a click on the map `lmap` (of the model ref / fingerprint) names, or None when it names
    nothing on it (an index past the map, a spot where the map is not the latent space itself)."""
    i = click.index
    if click.source == ENCODED and i is not None and 0 <= i < len(lmap.z):
        z = lmap.z[i]
    elif click.source == PRIOR and i is not None and 0 <= i < len(lmap.prior_z):
        z = lmap.prior_z[i]
    elif click.source == GRID and lmap.method == "latent" and click.x is not None and click.y is not None:
        z, i = np.array([click.x, click.y], dtype=np.float32), -1
    else:
        return None
    return Selection(ref, fingerprint, SOURCE_NAMES[click.source], i, tuple(float(v) for v in z))


def drawn(ref: str, fingerprint: str, z: np.ndarray) -> Selection:
    """The digit drawn on the Draw page, encoded by the model ref / fingerprint to z [d], as the picked point."""
    return Selection(ref, fingerprint, "drawn", -1, tuple(float(v) for v in np.asarray(z).ravel()))
