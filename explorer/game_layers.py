"""The game's layers as the pages use them: toggles, and what each layer needs computed from the model.

The toggles start off, so a page's first map needs no model (and no torch); turning one on loads the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import aae_core
from aae_core.checkpoint_meta import SNAPSHOTS_FILE
from aae_core.errors import CheckpointError
from explorer import family_text, game_figures

if TYPE_CHECKING:
    from aae_core.config import ModelConfig
    from aae_core.projection import LatentMap
    from aae_core.snapshots import Timeline
    from explorer.picker import Current, Pick

LATTICE_CELLS = 20          # the decoded manifold: 20 x 20 digits over the map
PUSH_SAMPLE = 150           # arrows on this many codes (more hide the codes)


def has_timeline(folder: Path | str | None) -> bool:
    """True when the checkpoint folder holds a training timeline (no torch asked)."""
    return folder is not None and (Path(folder) / SNAPSHOTS_FILE).is_file()


@st.cache_resource(max_entries=8, show_spinner=False)
def _timeline(folder: str, latent_dim: int, mtime: float) -> Timeline | None:
    return aae_core.snapshots.load_timeline(folder, latent_dim)


def timeline(folder: Path | str, latent_dim: int) -> Timeline | None:
    """The folder's timeline, read again when its file changes (a live run rewrites it every epoch)."""
    file = Path(folder) / SNAPSHOTS_FILE
    try:
        return _timeline(str(folder), latent_dim, file.stat().st_mtime)
    except FileNotFoundError:
        return None
    except CheckpointError as exc:
        st.warning(f"The training timeline could not be read: {exc}")
        return None


def critic_label(config: ModelConfig, key: str) -> int | None:
    """For a label-conditioned D, a picker of the label D is shown; None otherwise."""
    if not config.label_conditioned:
        return None
    noun = config.classes.noun or "label"
    return int(st.selectbox(f"D for the {noun}", list(range(config.n_classes)), key=key,
                            help=f"This discriminator also sees each code's {noun}: its verdict differs per {noun}."))


def no_critic_note(cur: Current) -> str:
    return (f"A {family_text.title(cur.config.kind)} has no discriminator on its codes"
            + (" (a KL term shapes them)" if cur.words.pulled_by == "kl" else "") + ": there is no D(z) to draw.")


def add_layers(fig: go.Figure, cur: Current, codes: np.ndarray, labels: np.ndarray, *, critic: bool, push: bool,
               manifold: bool, label: int | None = None) -> list[str]:
    """Draw the switched-on layers into fig (a 2-D latent map with fixed axes); returns notes for the page."""
    game = aae_core.game            # torch: the layers compute
    notes: list[str] = []
    extent = game_figures.axis_extent(fig)
    if manifold:
        game_figures.add_manifold(fig, game.decoded_lattice(cur.model, extent, LATTICE_CELLS, label), extent,
                                  opacity=0.9)
    if not (critic or push):
        return notes
    if not game.has_latent_critic(cur.model):
        return [no_critic_note(cur)]
    grid = game.discriminator_grid(cur.model, extent, label=label) if critic else None
    arrows = None
    if push:
        pick = np.random.default_rng(0).permutation(len(codes))[:PUSH_SAMPLE]
        codes = codes[pick]
        shown = np.full(len(codes), label) if cur.config.label_conditioned and label is not None else None
        if cur.config.label_conditioned and label is None and not cur.config.classes.predicted:
            shown = labels[pick]    # a family that predicts its classes shows D its own class: unknown here
        arrows = game.generator_push(cur.model, codes, shown)
    game_figures.add_critic(fig, grid, extent, codes=codes, push=arrows, opacity=0.55)
    return notes


def toggles(cur: Pick, prefix: str, *, manifold: bool = True) -> dict[str, bool]:
    """The layer switches of a 2-D latent map: D(z), the generator's push and the decoded manifold."""
    c1, c2, c3 = st.columns(3)
    out = {"critic": c1.toggle("D(z) heatmap", False, key=f"{prefix}_critic",
                               help="The discriminator's verdict at every point: blue where it says 'drawn from the "
                                    "prior', orange where it says 'an encoder's code'."),
           "push": c2.toggle("Generator's push", False, key=f"{prefix}_push",
                             help="Arrows on a sample of codes: the way the generator phase moves each code "
                                  "(−∂ generator loss / ∂z, normalised)."),
           "manifold": False}
    if manifold:
        out["manifold"] = c3.toggle("Decoded manifold", False, key=f"{prefix}_manifold",
                                    help=f"A {LATTICE_CELLS} x {LATTICE_CELLS} lattice of decoded digits tiled over "
                                         "the map's area, on the same axes (the paper's Fig. 2 and 4, right).")
    return out


def timeline_player(folder: Path | str, config: ModelConfig, lmap: LatentMap | None, key: str, *,
                    latest_only: bool = False, height: int = 600) -> None:
    """A run's training timeline as an animated map (a label picker for a label-conditioned D); latest_only:
    just its newest snapshot (a live run's, redrawn every second)."""
    found = timeline(folder, config.latent_dim)
    if found is None or not len(found):
        st.caption("This model has no training timeline.")
        return
    label = critic_label(config, f"{key}_label") if found.grid_labels != [None] else None
    prior = lmap.prior_xy if lmap is not None and lmap.method == "latent" else None
    prior_labels = lmap.prior_labels if prior is not None else None
    fig = game_figures.timeline_figure(found, prior_xy=prior, prior_labels=prior_labels, label=label,
                                       start=len(found) - 1 if latest_only else 0, latest_only=latest_only,
                                       height=height)
    st.plotly_chart(fig, key=f"{key}_chart", config={"displaylogo": False})
    what = ("D's verdict (heatmap), " if found.extent is not None else "") + "the codes of " + \
        f"{len(found.labels):,} {found.source} images" + \
        (" and the generator's push on 200 of them" if found.push[0] is not None else "")
    if latest_only:
        st.caption(f"Snapshot {len(found)}: {what}. A new one is recorded at every epoch's end.")
    else:
        st.caption(f"{len(found)} snapshots: {what}. ▶ plays them in your browser; drag the slider to scrub. "
                   "The first come from the first epoch (steps 0, 50, 200), when the picture changes fastest.")
