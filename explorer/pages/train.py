"""Train: pick a model and a recipe, start a run in the background (or wait in the server's queue for a
trainer), watch it learn, stop it any time."""

import streamlit as st

from aae_core.config import SCHEDULE_SHAPES
from aae_core.errors import AAEError
from aae_core.families import FAMILIES, get_family
from aae_core.priors import PRIOR_TYPES
from aae_core.recipes import get_recipe, recipes_for
from explorer import family_text, models, run_view, runs, state
from explorer.train_form import (
    FORM,
    LABEL_CHOICES,
    PRIOR_NAMES,
    WIDTHS,
    changed,
    changed_labels,
    changed_schedule,
    current,
    labels_shown,
    on_kind,
    on_recipe,
    rates,
    schedules,
    shown,
    start_run,
    width_shown,
)

st.title("Train a model")
state.explain(
    "Training runs the AAE's phases on every mini-batch: reconstruction, then the discriminator, then the "
    "encoder trying to fool it. On the right the codes of 600 test images (coloured by digit) move "
    "toward the grey prior samples as the adversarial phases win; the loss curves show the tug of war. "
    "The run goes on if you switch page or reload, and its checkpoint joins the model picker when it ends.")

user = state.user_key()
dev = models.device()
job = state.user_job()
if job is not None:
    run_view.show(job, user)          # a run still going stops the page here

st.subheader("A new run")
run, restarted = current()
if restarted:                   # a change that no longer fits (an older session's form)
    st.warning(f"The form started again from its recipe: {restarted}")
m, t = run.model, run.train
c1, c2, c3 = st.columns(3)
with c1:
    kind = st.selectbox("Kind", list(FAMILIES), format_func=family_text.title, key="train_kind",
                        on_change=on_kind)
    family = get_family(kind)
    st.caption(family_text.of(kind).summary)
    names = [r.name for r in recipes_for(kind)]
    if names:
        shown(f"train_recipe_{kind}", run.recipe.name if run.recipe and run.recipe.name in names else names[0])
        st.selectbox("Start from the recipe", names, key=f"train_recipe_{kind}", on_change=on_recipe, args=(kind,),
                     format_func=lambda n: f"{n} ({get_recipe(n).paper})",
                     help="The recipes of the shipped models (aae_core/recipes.py); change any field below.")
    shown("train_prior", m.prior)
    st.selectbox("Prior p(z)", list(family.priors), format_func=PRIOR_NAMES.get, key="train_prior",
                 disabled=len(family.priors) == 1, on_change=changed, args=("train_prior",))
    prior = PRIOR_TYPES[m.prior]
    if prior.parts_per_label:
        shown("train_label_cond", m.label_conditioned)
        st.checkbox("Label-conditioned (each digit gets its own part of the prior, §2.3)", key="train_label_cond",
                    on_change=changed, args=("train_label_cond",))
    if family.classes and not family.classes.means_label:
        shown("train_clusters", m.n_classes)
        st.number_input("Clusters", 2, 50, key="train_clusters", on_change=changed, args=("train_clusters",))
    if family.classes.predicted:       # a class head of its own: the consistency phase can keep it steady
        shown("train_consistency", m.consistency_eps)
        st.number_input("Consistency radius ε (0: off)", 0.0, 10.0, step=0.5, key="train_consistency",
                        on_change=changed, args=("train_consistency",),
                        help="Virtual adversarial training: a phase that keeps the class head's answer when the "
                             "image moves by the perturbation of this size (L2 norm) that changes it most.")
    if prior.latent_dim_for(m.n_classes) is None:
        shown("train_latent", m.latent_dim)
        st.number_input("Latent size (style dimensions)", 1, 64, key="train_latent", on_change=changed,
                        args=("train_latent",))
    else:
        st.caption(f"This prior fixes the latent size: {m.latent_dim}.")
    if prior.has_std:
        shown("train_std", m.prior_std)
        st.number_input("Prior σ", 0.1, 10.0, step=0.5, key="train_std", help="The paper's 2-D figures use σ = 5.",
                        on_change=changed, args=("train_std",))
with c2:
    if family.label_use(m.label_conditioned) != "none":
        key = f"train_labels_{kind}"
        shown(key, labels_shown(m))
        st.selectbox("Labelled images", LABEL_CHOICES, key=key, on_change=changed_labels, args=(key,))
    else:
        st.caption("This kind uses no labels.")
    for key, label, low, high, step in (("train_epochs", "Epochs", 1, 500, 1),
                                        ("train_decay", "Learning rates x0.1 every N epochs (0: never)", 0, 500, 1),
                                        ("train_batch", "Batch size", 16, 1000, 10)):
        shown(key, getattr(t, FORM[key]))
        st.number_input(label, low, high, step=step, key=key, on_change=changed, args=(key,))
    shown("train_width", width_shown(m.hidden_dim))
    st.select_slider("Hidden units per layer", WIDTHS, key="train_width", on_change=changed, args=("train_width",),
                     help="The paper uses 1000; the shipped models 512; 256 trains about 4x faster than 512 on a CPU.")
    shown("train_seed", t.seed)
    st.number_input("Seed", 0, 10**6, key="train_seed", on_change=changed, args=("train_seed",))
with c3:
    for key, label, step in rates(kind, m.label_conditioned, m.consistency_eps):
        shown(key, getattr(t, FORM[key]))
        st.number_input(f"Learning rate: {label}", 1e-6, 1.0, format="%.0e", step=step, key=key, on_change=changed,
                        args=(key,))
    noise_key = f"train_input_noise_{kind}"
    shown(noise_key, t.input_noise)
    st.number_input(
        "Input noise (std)", 0.0, 1.0, step=0.05, key=noise_key, on_change=changed, args=(noise_key,),
        help="Gaussian noise on what the encoder sees while training; the decoder still rebuilds the clean "
             "image. 0.3 cut the semi-supervised error by about 3 points in early epochs (see the README).")
    st.caption(f"Runs on {models.device_line()}. The page shows the measured speed and time left once it runs. "
               f"{runs.time_limit_note()}")
with st.expander("Schedules: noises and rates that change over training"):
    st.caption("Each value starts where the form (or the recipe) sets it and moves to its final value by the last "
               "step: linear, or cosine (flat at both ends). The command line spells it START:SHAPE:FINAL.")
    for field, label, shape, final, lr in schedules(kind, t):
        left, right = st.columns(2)
        shown(f"sched_{field}", shape)
        left.selectbox(f"{label.capitalize()} (starts at {t.start_value(field):g})", SCHEDULE_SHAPES,
                       key=f"sched_{field}", on_change=changed_schedule, args=(field,))
        shown(f"sched_final_{field}", final)
        right.number_input(f"Final {label}", 1e-7 if lr else 0.0, 1.0, key=f"sched_final_{field}",
                           format="%.0e" if lr else "%.3f", on_change=changed_schedule, args=(field,),
                           disabled=st.session_state[f"sched_{field}"] == "constant")


if st.button("Start training", type="primary", icon=":material/play_arrow:", key="start_run"):
    try:
        start_run(user, dev)
    except (ValueError, AAEError) as exc:
        st.error(f"Cannot start this run: {exc}")
    else:
        st.rerun()
