"""The app's Plotly figures: the latent map, live training views, class probabilities.

Points on the latent map carry customdata [source, index, label]: source ENCODED (index into the test
set), PRIOR (index into the prior samples) or GRID (an invisible point of a 2-D latent's background,
so that a click on empty space still reports where it landed); explorer.selection reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

# Plotly looks pandas up in sys.modules without importing it; when 20 sessions ran their first page at once
# (benchmarks/lecture_hall.py), one session's lazy `import pandas` was seen half-done by another's Plotly
# ("partially initialized module 'pandas'"). Imported here, fully, before any figure exists: sessions that
# import this module meanwhile wait for it. It costs the first page about 0.4 s.
import pandas  # noqa: F401
import plotly.graph_objects as go

from explorer.selection import ENCODED, GRID, PRIOR

if TYPE_CHECKING:  # annotations only: drawing a cached map must not import torch (explorer.runs does)
    from aae_core.projection import LatentMap
    from explorer.runs.status import Snapshot

# Ten distinguishable colours (Tableau 10), one per digit.
DIGIT_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf")
PRIOR_COLOUR = "#3c3c3c"
AXIS_TITLES = {"latent": ("z₁", "z₂"), "pca": ("PC 1", "PC 2"), "umap": ("UMAP 1", "UMAP 2")}
# Colours of the training phases' loss curves (phase names; a family's phases not listed get Plotly's own).
PHASE_COLOURS = {"reconstruction": "#4e79a7", "discriminator": "#e15759", "generator": "#59a14f",
                 "supervised": "#b07aa1", "consistency": "#f28e2b", "elbo": "#4e79a7"}  # phases, not kinds


def _scatter(webgl: bool):
    return go.Scattergl if webgl else go.Scatter


def _bounds(points: np.ndarray, pad: float = 0.06) -> tuple[tuple[float, float], tuple[float, float]]:
    lo, hi = np.nanmin(points, 0), np.nanmax(points, 0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def gaussian_rings(lmap: LatentMap, std: float) -> tuple[tuple[float, float], float] | None:
    """Centre and σ of an isotropic Gaussian prior N(0, σ² I) as it appears on this map, or None where it
    has no fixed shape (UMAP). In the latent itself the centre is 0; PCA's basis is orthonormal, so the
    prior projects to an isotropic 2-D Gaussian of the same σ, centred where the origin lands."""
    if lmap.method == "latent" and lmap.latent_dim == 2:
        return (0.0, 0.0), float(std)
    if lmap.method == "pca" and lmap.pca_mean is not None:
        cx, cy = (-lmap.pca_mean @ lmap.pca_components).tolist()
        return (float(cx), float(cy)), float(std)
    return None


def points_shown(lmap: LatentMap, show_prior: bool = True) -> str:
    """How many points the map shows, and where UMAP fitted a sample, how many it fitted (the map says so)."""
    n, m = lmap.n_test, lmap.prior_z.shape[0]
    text = f"{n:,} test images and {m:,} prior samples" if show_prior else f"{n:,} test images"
    if lmap.fit_points is not None:
        text += (f"; UMAP fitted {lmap.fit_points:,} of these {n + m:,}" if show_prior else
                 f"; UMAP fitted {lmap.fit_points:,} of {n + m:,} points (with the prior samples)")
        text += " and placed the rest among their nearest fitted neighbours"
    return text


def latent_map_figure(lmap: LatentMap, *, show_prior: bool = True, clickable_background: bool | None = None,
                      webgl: bool = True, grid_size: int = 70, height: int | None = None,
                      presentation: bool = False, gaussian_std: float | None = None,
                      note: str | None = None) -> go.Figure:
    """Encoded test points coloured by label (one trace per digit), prior samples (in grey, or in the
    colour of the label each was drawn for where the prior is label-conditioned, paper Fig. 4), σ rings
    of a Gaussian prior N(0, gaussian_std² I) where the map keeps its shape, and for a 2-D latent an
    invisible grid so that clicking empty space decodes that spot.

    presentation: for a projector (taller, larger fonts and markers, full-contrast colours); note: a
    line over the chart (e.g. that PCA stands in while UMAP fits)."""
    scatter = _scatter(webgl)
    fig = go.Figure()
    big = 2 if presentation else 0
    # presentation: the map and the browser's hover strip above it (112 px, fixed) fit under the header of a
    # 1080-pixel screen
    height = height or (484 if presentation else 640)
    background = lmap.method == "latent" if clickable_background is None else clickable_background
    all_xy = np.concatenate([lmap.xy, lmap.prior_xy]) if show_prior else lmap.xy
    rings = gaussian_rings(lmap, gaussian_std) if gaussian_std else None
    if rings is not None:  # keep the 3σ ring in view
        (cx, cy), sd = rings
        all_xy = np.concatenate([all_xy, [[cx - 3 * sd, cy - 3 * sd], [cx + 3 * sd, cy + 3 * sd]]])
    (x0, x1), (y0, y1) = _bounds(all_xy)
    if background:
        gx, gy = np.meshgrid(np.linspace(x0, x1, grid_size), np.linspace(y0, y1, grid_size))
        n = gx.size
        fig.add_trace(scatter(
            x=gx.ravel(), y=gy.ravel(), mode="markers", name="empty space", showlegend=False,
            marker=dict(size=10, color="black", opacity=0),
            customdata=np.stack([np.full(n, GRID), np.arange(n), np.full(n, -1)], 1),
            hoverinfo="none", selected=dict(marker=dict(opacity=0.8)), unselected=dict(marker=dict(opacity=0))))
    for digit in np.unique(lmap.labels):
        idx = np.flatnonzero(lmap.labels == digit)
        fig.add_trace(scatter(
            x=lmap.xy[idx, 0], y=lmap.xy[idx, 1], mode="markers", name=str(int(digit)),
            marker=dict(size=5 + big, color=DIGIT_COLOURS[int(digit) % len(DIGIT_COLOURS)],
                        opacity=1.0 if presentation else 0.8),
            customdata=np.stack([np.full(idx.size, ENCODED), idx, np.full(idx.size, digit)], 1),
            hovertemplate="test image #%{customdata[1]}, label %{customdata[2]}<extra></extra>",
            unselected=dict(marker=dict(opacity=0.3))))
    if show_prior:  # drawn last, small, so the prior stays visible over thousands of codes
        m = lmap.prior_xy.shape[0]
        if lmap.prior_labels is None:
            marker = dict(size=3 + big, color="#000000" if presentation else PRIOR_COLOUR,
                          opacity=0.8 if presentation else 0.55)
            owner, hover = np.full(m, -1), "prior sample #%{customdata[1]}<extra></extra>"
        else:  # a label-conditioned prior: each sample in its label's colour, as a cross over the dots
            owner = np.asarray(lmap.prior_labels, dtype=np.int64)
            marker = dict(size=6 + big, symbol="x", opacity=0.9,
                          color=[DIGIT_COLOURS[int(k) % len(DIGIT_COLOURS)] for k in owner],
                          line=dict(width=0.6, color="#000000" if presentation else PRIOR_COLOUR))
            hover = "prior sample #%{customdata[1]}, drawn for label %{customdata[2]}<extra></extra>"
        fig.add_trace(scatter(
            x=lmap.prior_xy[:, 0], y=lmap.prior_xy[:, 1], mode="markers", name="prior samples", marker=marker,
            customdata=np.stack([np.full(m, PRIOR), np.arange(m), owner], 1), hovertemplate=hover,
            unselected=dict(marker=dict(opacity=0.3))))
    if rings is not None:
        # Traces after the points, not layout shapes: WebGL points are drawn over every SVG shape and trace,
        # so a shape (even layer="above") lies under thousands of codes and never shows.
        (cx, cy), sd = rings
        colour = "#000000" if presentation else "#555555"
        angle = np.linspace(0, 2 * np.pi, 121)
        for k in (1, 2, 3):
            fig.add_trace(scatter(x=cx + k * sd * np.cos(angle), y=cy + k * sd * np.sin(angle), mode="lines",
                                  name=f"prior {k}σ", showlegend=False, hoverinfo="skip",
                                  line=dict(color=colour, width=2 if presentation else 1.5, dash="dash")))
            fig.add_annotation(x=cx + k * sd * 0.7071, y=cy + k * sd * 0.7071, text=f"{k}σ", showarrow=False,
                               font=dict(color=colour, size=14 + 4 * big), bgcolor="rgba(255,255,255,0.7)")
    xt, yt = AXIS_TITLES.get(lmap.method, ("x", "y"))
    fig.add_annotation(x=1, y=1, xref="paper", yref="paper", xanchor="right", yanchor="bottom", showarrow=False,
                       text=points_shown(lmap, show_prior), font=dict(size=12 + 4 * big, color="#555555"))
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40), hovermode="closest",
                      legend=dict(title="label", itemsizing="constant"), uirevision=lmap.fingerprint + lmap.method,
                      xaxis=dict(title=xt, range=[x0, x1], zeroline=False),
                      yaxis=dict(title=yt, range=[y0, y1], zeroline=False), plot_bgcolor="white")
    if note:
        fig.update_layout(title=dict(text=note, x=0.01, font=dict(size=15 + 4 * big, color="#b45309")))
    if presentation:
        fig.update_layout(font=dict(size=20, color="#000000"), legend=dict(font=dict(size=20)))
    if lmap.method in ("latent", "pca"):  # distances mean something here: keep one unit the same both ways
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    grid = "#cccccc" if presentation else "#eeeeee"
    fig.update_xaxes(showgrid=True, gridcolor=grid)
    fig.update_yaxes(showgrid=True, gridcolor=grid)
    return fig


def snapshot_figure(snap: Snapshot, *, axis_range: tuple[tuple[float, float], tuple[float, float]] | None = None,
                    height: int = 420, latent_dim: int | None = None) -> go.Figure:
    """Encoded test points (coloured by label) over prior samples during training: the first two code
    dimensions, with axes fixed to the prior's range so the movement toward the prior shows. A 1-D code
    (latent_dim 1, or a second column that is all zeros: the snapshot's padding) is drawn as rows, one per
    digit and one for the prior, along its one axis: there is no z₂ to show."""
    one_d = latent_dim == 1 or (latent_dim is None and not np.any(snap.xy[:, 1]) and not np.any(snap.prior_xy[:, 1]))
    if one_d:
        return _snapshot_1d(snap, axis_range[0] if axis_range else None, height)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=snap.prior_xy[:, 0], y=snap.prior_xy[:, 1], mode="markers", name="prior samples",
                             marker=dict(size=4, color="#9a9a9a", opacity=0.5), hoverinfo="skip"))
    if snap.labels is None:
        fig.add_trace(go.Scatter(x=snap.xy[:, 0], y=snap.xy[:, 1], mode="markers", name="encoded",
                                 marker=dict(size=4, color=DIGIT_COLOURS[0]), hoverinfo="skip"))
    else:
        for digit in np.unique(snap.labels):
            idx = snap.labels == digit
            fig.add_trace(go.Scatter(x=snap.xy[idx, 0], y=snap.xy[idx, 1], mode="markers", name=str(int(digit)),
                                     marker=dict(size=4, color=DIGIT_COLOURS[int(digit) % 10], opacity=0.85),
                                     hoverinfo="skip"))
    if axis_range is None:
        axis_range = _bounds(np.concatenate([snap.prior_xy, snap.xy]))
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=30, b=40), plot_bgcolor="white",
                      title=dict(text=f"epoch {snap.epoch:.2f}", font=dict(size=13)),
                      xaxis=dict(title="z₁", range=list(axis_range[0]), gridcolor="#eeeeee", zeroline=False),
                      yaxis=dict(title="z₂", range=list(axis_range[1]), gridcolor="#eeeeee", zeroline=False),
                      legend=dict(itemsizing="constant"))
    return fig


def _snapshot_1d(snap: Snapshot, x_range: tuple[float, float] | None, height: int) -> go.Figure:
    rows = ["prior"] + ([str(int(d)) for d in np.unique(snap.labels)] if snap.labels is not None else ["codes"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=snap.prior_xy[:, 0], y=["prior"] * len(snap.prior_xy), mode="markers",
                             name="prior samples", marker=dict(size=4, color="#9a9a9a", opacity=0.5),
                             hoverinfo="skip"))
    for row in rows[1:]:
        idx = np.ones(len(snap.xy), bool) if snap.labels is None else snap.labels == int(row)
        colour = DIGIT_COLOURS[int(row) % 10] if snap.labels is not None else DIGIT_COLOURS[0]
        fig.add_trace(go.Scatter(x=snap.xy[idx, 0], y=[row] * int(idx.sum()), mode="markers", name=row,
                                 marker=dict(size=4, color=colour, opacity=0.6), hoverinfo="skip"))
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=30, b=40), plot_bgcolor="white", showlegend=False,
                      title=dict(text=f"epoch {snap.epoch:.2f}", font=dict(size=13)),
                      xaxis=dict(title="z (the code's one dimension)", gridcolor="#eeeeee", zeroline=False,
                                 range=list(x_range) if x_range else None),
                      yaxis=dict(title="digit", type="category", categoryarray=rows, categoryorder="array"))
    return fig


def snapshot_range(snap: Snapshot, quantile: float = 0.995) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges that hold the prior samples, widened to hold the encoded points when they stray."""
    pts = np.concatenate([snap.prior_xy, np.clip(snap.xy, -1e6, 1e6)])
    lo = np.quantile(pts, 1 - quantile, axis=0)
    hi = np.quantile(pts, quantile, axis=0)
    span = np.maximum(hi - lo, 1e-3)
    return (float(lo[0] - 0.1 * span[0]), float(hi[0] + 0.1 * span[0])), \
        (float(lo[1] - 0.1 * span[1]), float(hi[1] + 0.1 * span[1]))


def loss_figure(points: Sequence[dict[str, float]], *, height: int = 340) -> go.Figure:
    """Smoothed loss per training phase against (fractional) epochs. Reconstruction (a sum over 784 pixels)
    is on the left axis; the adversarial and supervised losses (about 1) on the right one. The legend sits
    below the plot, where no toolbar covers it; the right axis spans at least 0.2, so that losses hovering at
    their equilibrium get ticks like 1.35, 1.40 rather than 1.397, 1.265."""
    fig = go.Figure()
    right_values: list[float] = []
    if points:
        phases = [k for k in points[-1] if k not in ("step", "epoch")]
        x = [p["epoch"] for p in points]
        for phase in phases:
            right = phase not in ("reconstruction", "elbo")
            y = [p.get(phase) for p in points]
            if right:
                right_values += [v for v in y if v is not None and math.isfinite(v)]
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=phase,
                                     yaxis="y2" if right else "y", line=dict(color=PHASE_COLOURS.get(phase),
                                                                             dash="dot" if right else None)))
    yaxis2 = dict(title="adversarial", overlaying="y", side="right", showgrid=False, tickformat=".2f", nticks=6)
    if right_values and max(right_values) - min(right_values) < 0.2:
        low = max((max(right_values) + min(right_values)) / 2 - 0.1, 0.0)  # a loss is never negative
        yaxis2["range"] = [low, low + 0.2]
    fig.update_layout(height=height, margin=dict(l=50, r=50, t=10, b=90), plot_bgcolor="white",
                      xaxis=dict(title="epoch", gridcolor="#eeeeee", tickformat=".3~g"),
                      yaxis=dict(title="reconstruction", gridcolor="#eeeeee", tickformat=".3~g", nticks=6),
                      yaxis2=yaxis2,
                      legend=dict(orientation="h", x=0, y=-0.3, yanchor="top"))
    return fig


def probabilities_figure(probs: np.ndarray, *, true_label: int | None = None, noun: str = "class",
                         height: int = 200) -> go.Figure:
    """A bar per class of the model's probabilities; the true label's bar is highlighted."""
    k = len(probs)
    colours = ["#e15759" if true_label is not None and i == true_label else "#4e79a7" for i in range(k)]
    fig = go.Figure(go.Bar(x=[str(i) for i in range(k)], y=probs, marker_color=colours,
                           hovertemplate=noun + " %{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=30, r=10, t=10, b=30), yaxis=dict(range=[0, 1], title="p"),
                      xaxis=dict(title=noun, type="category"), plot_bgcolor="white")
    return fig


def path_figure(lmap: LatentMap, path_xy: np.ndarray, *, height: int = 420, webgl: bool = True,
                zoom: bool = False) -> go.Figure:
    """The latent map, faded, with a path of points [S, 2] drawn over it from A to B; one unit is the same
    length both ways on latent and PCA maps (a mixture's star keeps its shape), and a legend says which
    layer is which. zoom: the axes frame the path with a margin of its own size (within the map's bounds),
    so a short path is not a few pixels long."""
    scatter = _scatter(webgl)
    fig = go.Figure()
    fig.add_trace(scatter(x=lmap.prior_xy[:, 0], y=lmap.prior_xy[:, 1], mode="markers", name="prior samples",
                          marker=dict(size=3, color=PRIOR_COLOUR, opacity=0.25), hoverinfo="skip"))
    colours = [DIGIT_COLOURS[int(v) % 10] for v in lmap.labels]
    fig.add_trace(scatter(x=lmap.xy[:, 0], y=lmap.xy[:, 1], mode="markers", name="test images (colour: label)",
                          marker=dict(size=3, color=colours, opacity=0.3), hoverinfo="skip"))
    n = len(path_xy)
    fig.add_trace(go.Scatter(x=path_xy[:, 0], y=path_xy[:, 1], mode="lines+markers+text", name="path A → B",
                             line=dict(color="black", width=2), marker=dict(size=8, color="black"),
                             text=["A"] + [""] * (n - 2) + ["B"], textposition="top center",
                             hovertemplate="step %{pointNumber}<extra></extra>"))
    xt, yt = AXIS_TITLES.get(lmap.method, ("x", "y"))
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=10, b=40), plot_bgcolor="white", showlegend=True,
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, itemsizing="constant"),
                      xaxis=dict(title=xt, gridcolor="#eeeeee", zeroline=False),
                      yaxis=dict(title=yt, gridcolor="#eeeeee", zeroline=False))
    if lmap.method in ("latent", "pca"):
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    if zoom:
        (mx0, mx1), (my0, my1) = _bounds(np.concatenate([lmap.xy, lmap.prior_xy, path_xy]))
        lo, hi = path_xy.min(0), path_xy.max(0)
        half = max(float((hi - lo).max()), 1e-6)          # a margin of the path's own size on each side
        centre = (lo + hi) / 2
        fig.update_layout(xaxis_range=[max(mx0, centre[0] - half), min(mx1, centre[0] + half)],
                          yaxis_range=[max(my0, centre[1] - half), min(my1, centre[1] + half)])
    return fig


def chart_config(file_name: str) -> dict:
    """st.plotly_chart's config: the modebar's camera button saves a PNG named `file_name` at twice the
    on-screen size (for slides); no Plotly logo."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": file_name, "scale": 2}}
