"""Train: pick a model and a recipe, start a run in the background (or wait in the server's queue for a
trainer), watch it learn, stop it any time."""

import time

import streamlit as st

from aae_core.config import SCHEDULE_SHAPES
from aae_core.errors import AAEError
from aae_core.families import FAMILIES, get_family
from aae_core.priors import PRIOR_TYPES
from aae_core.recipes import N_TRAIN, get_recipe, recipes_for, resolve
from explorer import figures, game_layers, models, runs, settings, state
from explorer.train_form import (
    FORM,
    LABEL_CHOICES,
    PRIOR_NAMES,
    SCHEDULED,
    WIDTHS,
    changed,
    changed_labels,
    changed_schedule,
    choice,
    on_kind,
    on_recipe,
    resolved,
    restart,
    shown,
)

st.title("Train a model")
state.explain(
    "Training runs the AAE's phases on every mini-batch: reconstruction, then the discriminator, then the "
    "encoder trying to fool it. On the right the codes of 600 test images (coloured by digit) move "
    "toward the grey prior samples as the adversarial phases win; the loss curves show the tug of war. "
    "The run goes on if you switch page or reload, and its checkpoint joins the model picker when it ends.")

user = state.user_key()
dev = models.device()


def use_model(out: str) -> None:
    st.session_state[state.MODEL_KEY] = out


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '1 h 05 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def speed(s: runs.JobStatus) -> str:
    """The measured speed (the status's recent window) and, while running, the time left at that speed."""
    if s.steps_per_s is None:
        return "measuring the speed..." if not s.done else ""
    text = f"{s.steps_per_s:,.1f} steps/s ({s.images_per_s:,.0f} images/s)"
    if not s.done and s.seconds_left is not None:
        text += f" · about {duration(s.seconds_left)} left"
    return text


def progress_text(s: runs.JobStatus) -> str:
    """One line that agrees with the state: whole epochs complete, and how far into the next one."""
    if not s.total_steps:
        return s.message
    if s.state == "finished":
        parts = [f"{s.epochs} of {s.epochs} epochs complete", f"{s.step:,} steps in {duration(s.elapsed)}"]
    elif s.done:
        parts = [f"{s.epoch} of {s.epochs} epochs complete"
                 + (f" + {s.epoch_steps} of {s.steps_per_epoch} steps into epoch {s.epoch + 1}" if s.epoch_steps
                    else ""), duration(s.elapsed)]
    else:
        parts = [f"epoch {s.epoch + 1} of {s.epochs}", f"step {s.step:,} of {s.total_steps:,}", duration(s.elapsed)]
    return " · ".join([*parts, speed(s)]).rstrip(" ·")


def draw_queued(s: runs.JobStatus) -> None:
    k = runs.REGISTRY.max_running
    head, leave_col = st.columns([5, 1])
    head.subheader(f"Run {s.out.name}: waiting for a trainer")
    leave_col.button("Leave the queue", key="leave_queue", on_click=runs.REGISTRY.leave_queue, args=(user,),
                     icon=":material/logout:", type="primary")
    waited = duration(time.time() - s.queued_at)
    st.progress(0.0, text=f"{ordinal(s.queue_position or 1)} in the queue · waiting for {waited}")
    st.info(f"You are {ordinal(s.queue_position or 1)} in the queue ({s.queue_length} waiting). This server trains "
            f"{k} run{'s' if k != 1 else ''} at a time, so that each gets the cores it needs; yours starts by "
            f"itself when the runs ahead of it end. You may switch page or reload meanwhile. {runs.time_limit_note()}",
            icon=":material/hourglass_top:")


def draw(job: runs.TrainingJob, s: runs.JobStatus) -> None:
    """The live (or final) view of a run."""
    if s.state == "queued":
        draw_queued(s)
        return
    head, stop_col = st.columns([5, 1])
    head.subheader(f"Run {s.out.name}")
    if not s.done:
        stop_col.button("Stop", key="stop_run", on_click=job.stop, icon=":material/stop_circle:", type="primary")
    st.progress(s.progress, text=progress_text(s))
    if s.state == "finished":
        st.success(f"{s.message}. It is now in the model picker.")
    elif s.state == "stopped":
        st.warning(f"{s.message}. The checkpoint is in the model picker." if s.has_checkpoint else s.message)
    elif s.state == "diverged":
        st.error(f"Training diverged: {s.message}")
    elif s.state == "failed":
        st.error(s.message)
    else:
        st.caption(s.message)
    if s.evicted:
        st.info(f"Each user keeps at most {runs.REGISTRY.max_runs} runs and "
                f"{runs.REGISTRY.quota_bytes / settings.MB:,.0f} MB of them on this server, so your oldest "
                f"{'run was' if len(s.evicted) == 1 else 'runs were'} removed: {', '.join(s.evicted)}.",
                icon=":material/delete_sweep:")
    if s.server_evicted:
        st.info(f"This server keeps at most {settings.server_max_runs()} trained runs and "
                f"{settings.server_quota_bytes() / settings.MB:,.0f} MB of them for all users together, so its "
                f"oldest were removed: {', '.join(s.server_evicted)}.", icon=":material/delete_sweep:")
    if s.done:
        c1, c2, _ = st.columns([1, 1, 3])
        if s.has_checkpoint:
            c1.button("Use this model", key="use_run", on_click=use_model, args=(str(s.out.resolve()),),
                      icon=":material/check:")
        c2.button("New run", key="new_run", on_click=runs.REGISTRY.forget, args=(user,), icon=":material/add:")
    left, right = st.columns(2)
    with left:
        st.markdown("**Losses** (smoothed per mini-batch)")
        st.plotly_chart(figures.loss_figure(s.losses), key="loss_chart", config={"displayModeBar": False})
        if s.history:
            keep = list(dict.fromkeys(k for h in s.history for k in h if k not in ("step", "partial")))
            st.dataframe([{k: round(h[k], 4) if isinstance(h[k], float) else h[k] for k in keep if k in h}
                          for h in s.history], hide_index=True, height=150)
            if s.history[-1].get("partial"):
                st.caption(f"The last row is the part of epoch {s.epoch + 1} done before the stop "
                           f"({s.epoch_steps} of {s.steps_per_epoch} steps).")
    with right:
        st.markdown("**Encoded test points vs prior samples** (first two code dimensions)")
        if s.snapshot is not None:
            st.plotly_chart(figures.snapshot_figure(s.snapshot, axis_range=figures.snapshot_range(s.snapshot)),
                            key="snapshot_chart")
        else:
            st.caption("The first picture appears when the data is loaded.")
        if job.model_config.latent_dim == 2 and game_layers.has_timeline(s.out):
            st.markdown("**The discriminator's view**" + (" and the training timeline" if s.done else
                                                           " (the run's latest recorded snapshot)"))
            game_layers.timeline_player(s.out, job.model_config, None, "train_timeline", latest_only=not s.done,
                                        height=440)


@st.fragment(run_every=1.0)
def live(job: runs.TrainingJob) -> None:
    """Polls the worker once a second (a waiting run too: its place and its start); the worker itself never
    calls Streamlit."""
    s = job.status()
    if s.done:
        st.rerun()  # a full run: the picker lists the checkpoint and polling stops
    draw(job, s)


job = state.user_job()
if job is not None:
    status = job.status()
    if status.done:
        draw(job, status)
    else:
        live(job)
        st.stop()

st.subheader("A new run")
ss = st.session_state
if "train_kind" not in ss:
    ss["train_kind"] = get_recipe(choice()["start"]).model["kind"] if choice()["start"] not in FAMILIES \
        else choice()["start"]
try:
    run = resolved()
except ValueError as exc:       # a change that no longer fits (an older session's form): start again
    st.warning(f"The form started again from its recipe: {exc}")
    restart(choice()["start"])
    run = resolved()
m, t = run.model, run.train
c1, c2, c3 = st.columns(3)
with c1:
    kind = st.selectbox("Kind", list(FAMILIES), format_func=lambda k: get_family(k).title, key="train_kind",
                        on_change=on_kind)
    family = get_family(kind)
    st.caption(family.summary)
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
    if family.needs_class_code and not family.classes_are_labels:
        shown("train_clusters", m.n_classes)
        st.number_input("Clusters", 2, 50, key="train_clusters", on_change=changed, args=("train_clusters",))
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
        shown(key, "all" if m.n_labels >= N_TRAIN else str(m.n_labels))
        st.selectbox("Labelled images", LABEL_CHOICES, key=key, on_change=changed_labels, args=(key,))
    else:
        st.caption("This kind uses no labels.")
    for key, label, low, high, step in (("train_epochs", "Epochs", 1, 500, 1),
                                        ("train_decay", "Learning rates x0.1 every N epochs (0: never)", 0, 500, 1),
                                        ("train_batch", "Batch size", 16, 1000, 10)):
        shown(key, getattr(t, FORM[key]))
        st.number_input(label, low, high, step=step, key=key, on_change=changed, args=(key,))
    shown("train_width", min(WIDTHS, key=lambda w: abs(w - m.hidden_dim)))
    st.select_slider("Hidden units per layer", WIDTHS, key="train_width", on_change=changed, args=("train_width",),
                     help="The paper uses 1000; the shipped models 512; 256 trains about 4x faster than 512 on a CPU.")
    shown("train_seed", t.seed)
    st.number_input("Seed", 0, 10**6, key="train_seed", on_change=changed, args=("train_seed",))
with c3:
    rates = [("train_lr_rec", "reconstruction", 1e-4), ("train_lr_disc", "discriminator", 1e-5),
             ("train_lr_gen", "generator", 1e-5)]
    if family.label_use(m.label_conditioned) == "batch":
        rates.append(("train_lr_sup", "labelled batch", 1e-4))
    for key, label, step in rates:
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
    for field, label in SCHEDULED.items():
        if field == "class_code_noise" and not family.needs_class_code:
            continue
        sched = t.schedules.get(field)
        left, right = st.columns(2)
        shown(f"sched_{field}", sched.shape if sched else "constant")
        left.selectbox(f"{label.capitalize()} (starts at {t.start_value(field):g})", SCHEDULE_SHAPES,
                       key=f"sched_{field}", on_change=changed_schedule, args=(field,))
        lr = field.startswith("lr_")
        shown(f"sched_final_{field}", sched.final if sched else (t.start_value(field) / 10 if lr else 0.0))
        right.number_input(f"Final {label}", 1e-7 if lr else 0.0, 1.0, key=f"sched_final_{field}",
                           format="%.0e" if lr else "%.3f", on_change=changed_schedule, args=(field,),
                           disabled=ss[f"sched_{field}"] == "constant")

if st.button("Start training", type="primary", icon=":material/play_arrow:", key="start_run"):
    try:
        c = choice()
        final = resolve(c["start"], labels=c["labels"], **{**c["changes"], "eval_size": 1000,
                                                          "labelled_batch_size": min(100, t.batch_size)})
        runs.REGISTRY.start(user, final.model, final.train, device=dev,
                            recipe=final.recipe.name if final.recipe else None)
    except (ValueError, AAEError) as exc:
        st.error(f"Cannot start this run: {exc}")
    else:
        st.rerun()
