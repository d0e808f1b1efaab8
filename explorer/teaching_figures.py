"""Plotly figures of the teaching pages: per-dimension histograms against the prior, the confusion matrix,
the map coloured by the model's own classes or clusters, and shared axis ranges for side-by-side maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from explorer.figures import AXIS_TITLES, DIGIT_COLOURS, ENCODED, PRIOR_COLOUR

if TYPE_CHECKING:
    from aae_core.projection import LatentMap

CODE_COLOUR = "#4e79a7"
# Up to 30 clusters need more colours than the ten digits': Tableau 10 then Plotly's Dark24.
MANY_COLOURS = tuple(DIGIT_COLOURS) + tuple(qualitative.Dark24)


def shared_range(*maps: LatentMap, quantile: float = 0.998,
                 pad: float = 0.06) -> tuple[tuple[float, float], tuple[float, float]]:
    """One (x, y) range that holds every code of every map (none clipped) and their prior samples (a few
    outlying samples left out)."""
    codes = np.concatenate([m.xy for m in maps])
    prior = np.concatenate([m.prior_xy for m in maps])
    lo = np.minimum(np.quantile(prior, 1 - quantile, axis=0), codes.min(axis=0))
    hi = np.maximum(np.quantile(prior, quantile, axis=0), codes.max(axis=0))
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def histograms_figure(edges: np.ndarray, code_density: np.ndarray, prior_density: np.ndarray, *,
                      analytic: np.ndarray | None = None, columns: int = 4, names: Sequence[str] | None = None,
                      height_per_row: int = 210) -> go.Figure:
    """Small multiples, one per latent dimension: the codes' histogram (bars), the prior samples' histogram
    (a grey step line) and, for a Gaussian prior, its analytic density (a dashed curve).
    edges [d, B + 1]; densities [d, B]; analytic [d, B] at the bin centres or None."""
    d = edges.shape[0]
    cols = min(columns, d)
    rows = -(-d // cols)
    names = list(names or [f"z{i + 1}" for i in range(d)])
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.05,
                        vertical_spacing=min(0.12, 0.5 / max(rows, 1)))
    for j in range(d):
        r, c = j // cols + 1, j % cols + 1
        centres = (edges[j, 1:] + edges[j, :-1]) / 2
        widths = edges[j, 1:] - edges[j, :-1]
        first = j == 0
        fig.add_trace(go.Bar(x=centres, y=code_density[j], width=widths, name="codes of test images",
                             marker=dict(color=CODE_COLOUR, opacity=0.65, line=dict(width=0)),
                             showlegend=first, legendgroup="codes",
                             hovertemplate="%{x:.2f}: %{y:.3f}<extra>codes</extra>"), row=r, col=c)
        fig.add_trace(go.Scatter(x=edges[j], y=np.append(prior_density[j], prior_density[j][-1]),
                                 mode="lines", line=dict(color=PRIOR_COLOUR, shape="hv", width=1.5),
                                 name="prior samples", showlegend=first, legendgroup="prior",
                                 hoverinfo="skip"), row=r, col=c)
        if analytic is not None:
            fig.add_trace(go.Scatter(x=centres, y=analytic[j], mode="lines", name="prior density",
                                     line=dict(color="#e15759", dash="dash", width=1.5), showlegend=first,
                                     legendgroup="analytic", hoverinfo="skip"), row=r, col=c)
    fig.update_layout(height=max(260, rows * height_per_row), margin=dict(l=30, r=10, t=40, b=30),
                      plot_bgcolor="white", bargap=0, legend=dict(orientation="h", y=1.0 + 0.25 / rows,
                                                                     yanchor="bottom"))
    fig.update_xaxes(gridcolor="#eeeeee", zeroline=False)
    fig.update_yaxes(gridcolor="#eeeeee", zeroline=False, rangemode="tozero")
    return fig


def confusion_figure(confusion: np.ndarray, *, noun: str = "class", column_order: Sequence[int] | None = None,
                     column_names: Sequence[str] | None = None, height: int = 420) -> go.Figure:
    """A heatmap of counts [digits, classes or clusters]: rows true digits, columns the model's classes
    (in `column_order`, e.g. clusters sorted by their majority digit), each cell's count written in it."""
    cm = np.asarray(confusion)
    order = list(column_order) if column_order is not None else list(range(cm.shape[1]))
    shown = cm[:, order]
    names = list(column_names) if column_names is not None else [str(k) for k in order]
    share = shown / np.maximum(shown.sum(0, keepdims=True), 1)            # colour: share of the column
    fig = go.Figure(go.Heatmap(
        z=share, x=names, y=[str(i) for i in range(cm.shape[0])], text=shown, texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1, colorbar=dict(title=f"share of<br>the {noun}"),
        hovertemplate=f"digit %{{y}}, {noun} %{{x}}: %{{text}} images<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=50, r=10, t=10, b=50), plot_bgcolor="white",
                      xaxis=dict(title=f"the model's {noun}", type="category"),
                      yaxis=dict(title="true digit", type="category", autorange="reversed"))
    return fig


def prediction_map_figure(lmap: LatentMap, predicted: np.ndarray, *, noun: str = "class",
                          names: Sequence[str] | None = None, height: int = 520, webgl: bool = True) -> go.Figure:
    """The latent map's test points coloured by the model's predicted class or cluster [N] (not the label)."""
    scatter = go.Scattergl if webgl else go.Scatter
    fig = go.Figure()
    for k in np.unique(predicted):
        idx = np.flatnonzero(predicted == k)
        name = names[int(k)] if names is not None else f"{noun} {int(k)}"
        fig.add_trace(scatter(
            x=lmap.xy[idx, 0], y=lmap.xy[idx, 1], mode="markers", name=name,
            marker=dict(size=5, color=MANY_COLOURS[int(k) % len(MANY_COLOURS)], opacity=0.8),
            customdata=np.stack([np.full(idx.size, ENCODED), idx, lmap.labels[idx]], 1),  # as figures' maps
            hovertemplate=f"test image #%{{customdata[1]}}, label %{{customdata[2]}}, {name}<extra></extra>"))
    xt, yt = AXIS_TITLES.get(lmap.method, ("x", "y"))
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=10, b=40), plot_bgcolor="white",
                      legend=dict(title=noun, itemsizing="constant"),
                      xaxis=dict(title=xt, gridcolor="#eeeeee", zeroline=False),
                      yaxis=dict(title=yt, gridcolor="#eeeeee", zeroline=False))
    return fig


def with_marker(fig: go.Figure, xy: np.ndarray, name: str = "your digit") -> go.Figure:
    """The figure with one large star at xy [2] on top (e.g. a drawn digit's code on the latent map): a WebGL
    trace, since WebGL points cover every SVG trace, and its name as an annotation (drawn over both)."""
    x, y = float(xy[0]), float(xy[1])
    fig.add_trace(go.Scattergl(x=[x], y=[y], mode="markers", name=name,
                               marker=dict(symbol="star", size=24, color="#e15759", line=dict(color="black", width=2)),
                               hovertemplate=f"{name}: (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    fig.add_annotation(x=x, y=y, text=f"<b>{name}</b>", showarrow=True, arrowhead=0, ax=0, ay=-30,
                       font=dict(size=14, color="#000000"), bgcolor="rgba(255,255,255,0.8)")
    return fig
