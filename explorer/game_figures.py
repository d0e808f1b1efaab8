"""Plotly layers of the adversarial game, drawn into the same figures as the latent map: D(z) as a heatmap
under the codes, the generator's push as arrows, the decoded manifold as one image tiled over the map's area,
and a training timeline as Plotly frames (play / pause / slider run in the browser, no server round trip).

Numpy and Plotly only: the arrays come from aae_core.game and aae_core.snapshots, computed by the pages.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from explorer.exports import png_bytes
from explorer.figures import DIGIT_COLOURS, PRIOR_COLOUR

if TYPE_CHECKING:
    from aae_core.snapshots import Timeline

# D(z) from "an encoder's code" (0, orange) through undecided (0.5, white) to "drawn from the prior" (1, blue)
CRITIC_SCALE = [[0.0, "#d6604d"], [0.25, "#f4a582"], [0.5, "#f7f7f7"], [0.75, "#92c5de"], [1.0, "#2166ac"]]
CRITIC_TITLE = "D(z): drawn<br>from the prior?"
PUSH_COLOUR = "#111111"


def axis_extent(fig: go.Figure) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the square around a figure's fixed axis ranges (the latent map sets them). With one
    unit the same length both ways, the plot shows more of the shorter axis than its range: the square covers
    all that shows, and the decoded digits tiled over it stay square."""
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return float(cx - half), float(cx + half), float(cy - half), float(cy + half)


def critic_heatmap(grid: np.ndarray, extent: Sequence[float], *, opacity: float = 0.6,
                   showscale: bool = True) -> go.Heatmap:
    """D(z) on its grid [S (y), S (x)] over extent as a heatmap trace (no hover, no clicks: the points
    above it keep those)."""
    s_y, s_x = grid.shape
    x0, x1, y0, y1 = (float(v) for v in extent)
    return go.Heatmap(z=np.round(grid, 3), x=np.linspace(x0, x1, s_x), y=np.linspace(y0, y1, s_y), zmin=0, zmax=1,
                      colorscale=CRITIC_SCALE, opacity=opacity, showscale=showscale, hoverinfo="skip",
                      name="D(z)", zsmooth="best",
                      colorbar=dict(title=dict(text=CRITIC_TITLE, side="top"), thickness=12, len=0.3, y=0,
                                    yanchor="bottom",
                                    tickvals=[0, 0.5, 1], ticktext=["0 code", "0.5", "1 prior"]))


def push_segments(codes: np.ndarray, push: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """x and y of line segments from each code along its push (unit vectors) by `length`, None-separated."""
    n = len(push)
    ends = codes[:n] + length * push
    xs = np.stack([codes[:n, 0], ends[:, 0], np.full(n, np.nan)], 1).ravel()
    ys = np.stack([codes[:n, 1], ends[:, 1], np.full(n, np.nan)], 1).ravel()
    return xs, ys


def push_arrows(codes: np.ndarray, push: np.ndarray, length: float, *, width: float = 1.2) -> go.Scatter:
    """The generator's push on each code as an arrow (a segment with an arrowhead at its tip)."""
    xs, ys = push_segments(codes, push, length)
    n = len(push)
    sizes = np.tile([0, 7, 0], n)
    return go.Scatter(x=xs, y=ys, mode="lines+markers", name="generator's push", hoverinfo="skip",
                      line=dict(color=PUSH_COLOUR, width=width), connectgaps=False,
                      marker=dict(symbol="arrow", angleref="previous", size=sizes, color=PUSH_COLOUR))


def arrow_length(extent: Sequence[float]) -> float:
    """Arrows a twentieth of the map's width: long enough to read, short enough not to cover the codes."""
    return (float(extent[1]) - float(extent[0])) / 20


def add_critic(fig: go.Figure, grid: np.ndarray | None, extent: Sequence[float], *, codes: np.ndarray | None = None,
               push: np.ndarray | None = None, opacity: float = 0.6) -> go.Figure:
    """Put D's heatmap under every trace of `fig` and the push arrows over them (either may be None)."""
    if grid is not None:
        fig.add_trace(critic_heatmap(grid, extent, opacity=opacity))
        fig.data = (fig.data[-1], *fig.data[:-1])   # the colour bar sits under the legend
    if push is not None and codes is not None:
        fig.add_trace(push_arrows(codes, push, arrow_length(extent)))
    return fig


def lattice_image(lattice: np.ndarray) -> str:
    """uint8 [n, n, 28, 28] (row 0 at the top) -> one PNG of the tiled digits, as a data URI."""
    n_rows, n_cols = lattice.shape[:2]
    tiled = lattice.transpose(0, 2, 1, 3).reshape(n_rows * 28, n_cols * 28)
    return "data:image/png;base64," + base64.b64encode(png_bytes(tiled)).decode()


def add_manifold(fig: go.Figure, lattice: np.ndarray, extent: Sequence[float], *, opacity: float = 1.0) -> go.Figure:
    """Tile the decoded lattice over extent on the figure's own axes, under every trace."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    fig.add_layout_image(source=lattice_image(lattice), xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0,
                         sizey=y1 - y0, sizing="stretch", layer="below", opacity=opacity, xanchor="left",
                         yanchor="top")
    return fig


def manifold_figure(lattice: np.ndarray, extent: Sequence[float], *, height: int = 640,
                    axis_titles: tuple[str, str] = ("z₁", "z₂"), title: str | None = None) -> go.Figure:
    """The decoded manifold alone, on the same axes as the map beside it (one unit the same both ways)."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    fig = go.Figure(go.Scatter(x=[x0, x1], y=[y0, y1], mode="markers", marker=dict(opacity=0), hoverinfo="skip",
                               showlegend=False))
    add_manifold(fig, lattice, extent)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=30 if title else 10, b=40), plot_bgcolor="white",
                      xaxis=dict(title=axis_titles[0], range=[x0, x1], zeroline=False, showgrid=False),
                      yaxis=dict(title=axis_titles[1], range=[y0, y1], zeroline=False, showgrid=False,
                                 scaleanchor="x", scaleratio=1),
                      title=dict(text=title, font=dict(size=14)) if title else None)
    return fig


# --- the training timeline --------------------------------------------------------------------------------------
def timeline_range(timeline: Timeline, prior_xy: np.ndarray | None = None,
                   pad: float = 0.05) -> tuple[float, float, float, float]:
    """One (x0, x1, y0, y1) holding every snapshot's codes (none clipped), the prior samples and D's grid."""
    pts = [np.concatenate(timeline.codes)]
    if prior_xy is not None:
        pts.append(prior_xy)
    if timeline.extent is not None:
        x0, x1, y0, y1 = timeline.extent
        pts.append(np.array([[x0, y0], [x1, y1]]))
    allp = np.concatenate(pts)[:, :2]
    lo, hi = np.nanmin(allp, 0), np.nanmax(allp, 0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def snapshot_label(entry: dict) -> str:
    """'step 50' during the first epoch, else 'epoch 3' (completed epochs)."""
    if entry["epoch"] == 0:
        return f"step {entry['step']}"
    return f"epoch {entry['epoch']}"


def _frame_traces(timeline: Timeline, i: int, digits: np.ndarray, grid_row: int, extent, show_push: bool) -> list:
    codes, traces = timeline.codes[i], []
    if timeline.extent is not None:
        grid = timeline.grids[i]
        traces.append(critic_heatmap(grid[grid_row], timeline.extent, showscale=True))
    for d in digits:
        idx = timeline.labels == d
        traces.append(go.Scatter(x=codes[idx, 0], y=codes[idx, 1], mode="markers", name=str(int(d)),
                                 marker=dict(size=5, color=DIGIT_COLOURS[int(d) % 10], opacity=0.85),
                                 hoverinfo="skip"))
    if show_push:
        traces.append(push_arrows(codes, timeline.push[i], arrow_length(extent), width=1))
    return traces


def timeline_figure(timeline: Timeline, *, prior_xy: np.ndarray | None = None, prior_labels: np.ndarray | None = None,
                    label: int | None = None, show_push: bool = True, start: int | None = None, height: int = 560,
                    frame_ms: int = 700, title: str | None = None, latest_only: bool = False) -> go.Figure:
    """A run's snapshots as one animated figure: D's heatmap (for `label` where D is label-conditioned), the
    recorded codes coloured by label and the generator's push, with play / pause and a slider; prior samples
    (static) underneath. The axes hold every snapshot's codes. start: the snapshot shown first (default 0);
    latest_only: the start snapshot alone, without frames or player."""
    n = len(timeline)
    if n == 0:
        raise ValueError("the timeline holds no snapshots")
    start = 0 if start is None else max(0, min(int(start), n - 1))
    digits = np.unique(timeline.labels)
    grid_row = 0
    if timeline.extent is not None and timeline.grid_labels != [None]:
        grid_row = timeline.grid_labels.index(0 if label is None else int(label))
    show_push = show_push and timeline.push[0] is not None
    extent = timeline_range(timeline, prior_xy)
    fig = go.Figure()
    static = []
    if prior_xy is not None:
        colour = ([DIGIT_COLOURS[int(k) % 10] for k in prior_labels] if prior_labels is not None
                  else PRIOR_COLOUR)
        static.append(go.Scatter(x=prior_xy[:, 0], y=prior_xy[:, 1], mode="markers", name="prior samples",
                                 marker=dict(size=4, symbol="x" if prior_labels is not None else "circle",
                                             color=colour, opacity=0.45), hoverinfo="skip"))
    first = _frame_traces(timeline, start, digits, grid_row, extent, show_push)
    heat = first[:1] if timeline.extent is not None else []
    moving = first[len(heat):]
    # order: heatmap (bottom), prior samples, codes per digit, arrows (top); frames replace all but the prior
    for t in (*heat, *static, *moving):
        fig.add_trace(t)
    ids = list(range(len(heat))) + list(range(len(heat) + len(static), len(fig.data)))
    fig.update_layout(
        height=height, margin=dict(l=40, r=10, t=40, b=40), plot_bgcolor="white",
        title=dict(text=_title(title, timeline.entries[start]), font=dict(size=14)),
        xaxis=dict(title="z₁", range=list(extent[:2]), zeroline=False, gridcolor="#eeeeee", constrain="domain"),
        yaxis=dict(title="z₂", range=list(extent[2:]), zeroline=False, gridcolor="#eeeeee", scaleanchor="x",
                   scaleratio=1, constrain="domain"),
        legend=dict(title="label", itemsizing="constant"))
    if latest_only:
        return fig
    names = [f"{i}" for i in range(n)]
    fig.frames = [go.Frame(name=names[i], data=_frame_traces(timeline, i, digits, grid_row, extent, show_push),
                           traces=ids, layout=dict(title=dict(text=_title(title, timeline.entries[i]))))
                  for i in range(n)]
    anim = dict(mode="immediate", frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0))
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.14, xanchor="left", yanchor="top",
                          showactive=False, pad=dict(t=0, r=10), buttons=[
                              dict(label="▶ Play", method="animate",
                                   args=[None, {**anim, "fromcurrent": True}]),
                              dict(label="❚❚ Pause", method="animate",
                                   args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                                      transition=dict(duration=0))])])],
        sliders=[dict(active=start, x=0.18, len=0.82, y=-0.1, yanchor="top", pad=dict(t=0),
                      currentvalue=dict(prefix="snapshot: ", font=dict(size=13)),
                      steps=[dict(label=snapshot_label(e), method="animate",
                                  args=[[names[i]], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                         transition=dict(duration=0))])
                             for i, e in enumerate(timeline.entries)])])
    fig.update_layout(margin=dict(b=130))
    return fig


def _title(title: str | None, entry: dict) -> str:
    losses = entry.get("losses") or {}
    shown = ", ".join(f"{k.removeprefix('loss_')} {v:.3g}" for k, v in losses.items() if k.startswith("loss_"))
    where = snapshot_label(entry) + (f" · step {entry['step']}" if entry["epoch"] else "")
    text = where + (f" · {shown}" if shown else "")
    return f"{title} · {text}" if title else text


# --- one mini-batch, phase by phase ------------------------------------------------------------------------------
def phase_figure(codes: np.ndarray, prior: np.ndarray, labels: np.ndarray, *, grid: np.ndarray | None,
                 extent: Sequence[float], push: np.ndarray | None = None, previous: np.ndarray | None = None,
                 title: str = "", height: int = 560) -> go.Figure:
    """The stepped batch on one map: D's heatmap, the prior draws (grey crosses), the batch's codes (coloured by
    label), where each code was before the phase (faint lines) and the generator's push (arrows)."""
    fig = go.Figure()
    x0, x1, y0, y1 = (float(v) for v in extent)
    if previous is not None:
        xs, ys = push_segments(previous, (codes - previous), 1.0)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="moved by this phase", hoverinfo="skip",
                                 line=dict(color="#888888", width=1)))
    fig.add_trace(go.Scatter(x=prior[:, 0], y=prior[:, 1], mode="markers", name="prior draws",
                             marker=dict(size=7, symbol="x", color=PRIOR_COLOUR, opacity=0.8), hoverinfo="skip"))
    for d in np.unique(labels):
        idx = labels == d
        fig.add_trace(go.Scatter(x=codes[idx, 0], y=codes[idx, 1], mode="markers", name=str(int(d)),
                                 marker=dict(size=8, color=DIGIT_COLOURS[int(d) % 10],
                                             line=dict(width=0.5, color="#222222")),
                                 hovertemplate=f"code of a {int(d)}<extra></extra>"))
    add_critic(fig, grid, extent, codes=codes, push=push)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40), plot_bgcolor="white",
                      title=dict(text=title, font=dict(size=14)),
                      xaxis=dict(title="z₁", range=[x0, x1], zeroline=False, gridcolor="#eeeeee",
                                 constrain="domain"),
                      yaxis=dict(title="z₂", range=[y0, y1], zeroline=False, gridcolor="#eeeeee", scaleanchor="x",
                                 scaleratio=1, constrain="domain"),
                      legend=dict(itemsizing="constant"))
    return fig
