"""The adversarial game: one mini-batch of a 2-D model, stepped phase by phase, the map redrawn after each."""

import time

import numpy as np
import streamlit as st

from explorer import game_figures, game_layers, models, picker, state, widgets

SLOW_MOTION_S = 1.2   # the pause between phases of the slow-motion play

st.title("The adversarial game")
state.explain(
    "Training an AAE repeats three phases on every mini-batch. **Reconstruction**: the encoder and the decoder "
    "learn to rebuild the images. **Discriminator**: D learns to tell the batch's codes from draws of the prior. "
    "**Generator**: the encoder moves the codes to where D says 'prior'. Step through one mini-batch below: the "
    "heatmap is D's verdict at every point, the arrows the way the generator phase pushes each code.")

cur = picker.require_model()
if cur.config.latent_dim != 2:
    st.info(f"This page steps a model with a 2-D latent, where the map is the latent space itself; "
            f"{cur.name} has a {cur.config.latent_dim}-D one. Pick a 2-D model in the sidebar.")
    st.stop()
test = models.test_set(cur.config.dataset)
if test is None:
    st.stop()

from aae_core import game  # noqa: E402  (after the checks above: the model and torch are loaded by now)
from aae_core.config import TrainConfig  # noqa: E402
from aae_core.snapshots import grid_extent  # noqa: E402


def trained_with() -> TrainConfig | None:
    """The model's own training settings (learning rates, noise), where its config.json records them."""
    try:
        return TrainConfig.from_dict(dict(cur.info.meta["training"]))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


ss = st.session_state
c1, c2, c3 = st.columns([1, 1, 2])
size = int(c1.select_slider("Mini-batch size", [16, 32, 64, 100], 64, key="game_batch"))
seed = int(c2.number_input("Batch seed", 0, 10**6, 0, key="game_seed",
                           help="Which test images form the batch (they stand in for training images here)."))
key = (cur.fingerprint, size, seed)
if ss.get("game_key") != key or "game_stepper" not in ss:
    idx = np.sort(np.random.default_rng(seed).choice(len(test), size, replace=False))
    stepper = game.GameStepper(cur.model, test.images[idx], test.labels[idx], train_config=trained_with(),
                               seed=seed)
    start = stepper.start
    x0, x1, y0, y1 = grid_extent(stepper.model, pad=0.15)
    pts = np.concatenate([start.codes, start.prior, [[x0, y0], [x1, y1]]])
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.05 * (hi - lo)
    ss.update(game_key=key, game_stepper=stepper, game_idx=idx,
              game_extent=(float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])))


def reset() -> None:
    ss.pop("game_stepper", None)


def step() -> None:
    ss.game_stepper.step()


stepper, idx, extent = ss.game_stepper, ss.game_idx, ss.game_extent
labels = stepper.labels.numpy()
critic = game.has_latent_critic(stepper.model)

with c3:
    st.markdown("**The batch** (its first 16 images)")
    widgets.show_images(test.images[idx[:16]].numpy(), [str(int(v)) for v in labels[:16]], width=36, scale=1)

st.markdown("**Step one phase at a time** (each is one optimizer step of the networks it names)")
cols = st.columns(len(stepper.phases) + 2)
for i, phase in enumerate(stepper.phases):
    owners = game.module_names(stepper.model, stepper.model.phase_modules(phase))
    cols[i].button(f"{i + 1}. {phase}", key=f"game_step_{phase}", on_click=step,
                   disabled=phase != stepper.next_phase, width="stretch",
                   help=f"Updates: {', '.join(owners)}")
play = cols[-2].button("▶ Slow motion", key="game_play", width="stretch",
                       help="The remaining phases of this round, one after another, the map redrawn after each.")
cols[-1].button("Reset", key="game_reset", on_click=reset, width="stretch",
                help="Back to the model as trained, the same batch.")
chart = st.empty()
table = st.empty()


def draw() -> None:
    views = [stepper.start, *stepper.done]
    view, before = views[-1], (views[-2] if len(views) > 1 else None)
    grid = game.discriminator_grid(stepper.model, extent, label=game_layers_label) if critic else None
    push = game.generator_push(stepper.model, view.codes, view.shown) if critic else None
    moved = before.codes if before is not None and not np.allclose(before.codes, view.codes) else None
    title = ("The batch as the model stands" if view.phase == "start" else
             f"After phase {len(stepper.done)}: {view.phase} (updated {', '.join(view.updated)}; loss {view.loss:.4g})")
    fig = game_figures.phase_figure(view.codes, view.prior, labels, grid=grid, extent=extent, push=push,
                                    previous=moved, title=title)
    chart.plotly_chart(fig, key=f"game_chart_{len(stepper.done)}", config={"displaylogo": False})
    rows = []
    for n, v in enumerate(views):
        row = {"#": n, "phase": v.phase, "loss": None if v.phase == "start" else round(v.loss, 4),
               "networks updated": ", ".join(v.updated) or "-"}
        if critic:
            row.update({"mean D(codes)": round(float(v.code_scores.mean()), 3),
                        "mean D(prior draws)": round(float(v.prior_scores.mean()), 3)})
        rows.append(row)
    table.dataframe(rows, hide_index=True, width="stretch")


game_layers_label = game_layers.critic_label(stepper.model.config, "game_label") if critic else None
if play:
    remaining = len(stepper.phases) - len(stepper.done) % len(stepper.phases)
    for _ in range(remaining):
        stepper.step()
        draw()
        time.sleep(SLOW_MOTION_S)
else:
    draw()

if not critic:
    st.info(game_layers.no_critic_note(cur) + " Its one phase still shows how its codes move.")
st.caption("Grey crosses: draws of the prior, fixed for this batch. Coloured dots: the batch's codes, coloured by "
           "label; a grey line from where a code was before the last phase. The heatmap: D's probability that a point "
           "was drawn from the prior (blue) rather than encoded (orange); arrows: the generator's push "
           "(−∂ generator loss / ∂z, normalised). The steps run on a copy: the model itself is untouched.")
