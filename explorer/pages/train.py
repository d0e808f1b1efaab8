"""Train: pick a model and a recipe, start a run in the background (or wait in the server's queue for a
trainer), watch it learn, stop it any time."""

import time

import streamlit as st

from aae_core import ModelConfig, TrainConfig
from aae_core.errors import AAEError
from aae_core.families import FAMILIES, get_family
from aae_core.recipes import N_TRAIN, Recipe, default_recipe, get_recipe, recipes_for
from explorer import figures, models, runs, settings, state

PRIOR_NAMES = {"gaussian": "Gaussian", "mixture": "mixture of 10 Gaussians (2-D)",
               "swiss_roll": "swiss roll (2-D)", "categorical": "categorical (one-hot)"}
LABEL_CHOICES = ["100", "1000", "10000", "all"]
WIDTHS = [64, 128, 256, 512, 1000]


def preset(recipe: Recipe) -> None:
    """Set every field of the form to `recipe` (the Train page's presets are the recipe book's recipes)."""
    ss, m, t = st.session_state, recipe.model_config(), recipe.train_config()
    kind = m.kind
    ss["train_prior"], ss["train_label_cond"] = m.prior, m.label_conditioned
    if m.family.class_noun == "cluster":
        ss["train_clusters"] = m.n_classes
    if m.prior not in ("mixture", "swiss_roll", "categorical"):
        ss["train_latent"] = m.latent_dim
    ss["train_std"] = m.prior_std
    if m.n_labels:
        ss[f"train_labels_{kind}"] = "all" if m.n_labels >= N_TRAIN else str(m.n_labels)
    ss["train_epochs"], ss["train_batch"], ss["train_seed"] = t.epochs, t.batch_size, t.seed
    ss["train_width"] = min(WIDTHS, key=lambda w: abs(w - m.hidden_dim))
    ss["train_lr_rec"], ss["train_lr_disc"] = t.lr_reconstruction, t.lr_discriminator
    ss["train_lr_gen"], ss["train_lr_sup"] = t.lr_generator, t.lr_supervised
    ss[f"train_input_noise_{kind}"] = t.input_noise
    ss["train_decay"] = t.lr_decay_epochs


def on_kind() -> None:
    kind = st.session_state["train_kind"]
    recipe = default_recipe(kind) or (recipes_for(kind) or [None])[0]
    if recipe is not None:
        st.session_state[f"train_recipe_{kind}"] = recipe.name
        preset(recipe)


def on_recipe(kind: str) -> None:
    preset(get_recipe(st.session_state[f"train_recipe_{kind}"]))


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
    ss["train_kind"] = ModelConfig.kind
    on_kind()
c1, c2, c3 = st.columns(3)
with c1:
    kind = st.selectbox("Kind", list(FAMILIES), format_func=lambda k: get_family(k).title, key="train_kind",
                        on_change=on_kind)
    family = get_family(kind)
    st.caption(family.summary)
    names = [r.name for r in recipes_for(kind)]
    if names:
        ss.setdefault(f"train_recipe_{kind}", family.default_recipe if family.default_recipe in names else names[0])
        st.selectbox("Start from the recipe", names, key=f"train_recipe_{kind}", on_change=on_recipe, args=(kind,),
                     format_func=lambda n: f"{n} ({get_recipe(n).paper})",
                     help="The recipes of the shipped models (aae_core/recipes.py); change any field below.")
    priors = list(family.priors)
    if ss.get("train_prior") not in priors:
        ss["train_prior"] = priors[0]
    prior = st.selectbox("Prior p(z)", priors, format_func=PRIOR_NAMES.get, key="train_prior",
                         disabled=len(priors) == 1)
    label_conditioned = False
    if prior in ("mixture", "swiss_roll"):
        label_conditioned = st.checkbox("Label-conditioned (each digit gets its own part of the prior, §2.3)",
                                        key="train_label_cond")
    n_classes = 10
    if family.class_noun == "cluster":
        ss.setdefault("train_clusters", 16)
        n_classes = int(st.number_input("Clusters", 2, 50, key="train_clusters"))
    if prior in ("mixture", "swiss_roll"):
        latent_dim = 2
        st.caption("This prior is 2-D: the latent size is 2.")
    elif prior == "categorical":
        latent_dim = n_classes
        st.caption("A one-hot prior has one dimension per category (10).")
    else:
        ss.setdefault("train_latent", 2)
        latent_dim = int(st.number_input("Latent size (style dimensions)", 1, 64, key="train_latent"))
    std = 1.0
    if prior == "gaussian":
        ss.setdefault("train_std", 1.0)
        std = float(st.number_input("Prior σ", 0.1, 10.0, step=0.5, key="train_std",
                                    help="The paper's 2-D figures use σ = 5."))
with c2:
    uses_labels = family.label_use(label_conditioned) != "none"
    budget = "none"
    if uses_labels:
        ss.setdefault(f"train_labels_{kind}", "all")
        budget = st.selectbox("Labelled images", LABEL_CHOICES, key=f"train_labels_{kind}")
    else:
        st.caption("This kind uses no labels.")
    epochs = int(st.number_input("Epochs", 1, 500, key="train_epochs"))
    decay = int(st.number_input("Learning rates x0.1 every N epochs (0: never)", 0, 500, key="train_decay"))
    batch_size = int(st.number_input("Batch size", 16, 1000, step=10, key="train_batch"))
    width = int(st.select_slider("Hidden units per layer", WIDTHS, key="train_width",
                                 help="The paper uses 1000; the shipped models 512; 256 trains about 4x faster "
                                      "than 512 on a CPU."))
    seed = int(st.number_input("Seed", 0, 10**6, key="train_seed"))
with c3:
    lr_rec = st.number_input("Learning rate: reconstruction", 1e-6, 1.0, format="%.0e", step=1e-4,
                             key="train_lr_rec")
    lr_disc = st.number_input("Learning rate: discriminator", 1e-6, 1.0, format="%.0e", step=1e-5,
                              key="train_lr_disc")
    lr_gen = st.number_input("Learning rate: generator", 1e-6, 1.0, format="%.0e", step=1e-5, key="train_lr_gen")
    lr_sup = float(ss.get("train_lr_sup", TrainConfig.lr_supervised))
    if family.label_use(label_conditioned) == "batch":
        lr_sup = st.number_input("Learning rate: supervised", 1e-6, 1.0, format="%.0e", step=1e-4,
                                 key="train_lr_sup")
    ss.setdefault(f"train_input_noise_{kind}", 0.0)
    input_noise = st.number_input(
        "Input noise (std)", 0.0, 1.0, step=0.05, key=f"train_input_noise_{kind}",
        help="Gaussian noise on what the encoder sees while training; the decoder still rebuilds the clean "
             "image. 0.3 cut the semi-supervised error by about 3 points in early epochs (see the README).")
    st.caption(f"Runs on {models.device_line()}. The page shows the measured speed and time left once it runs. "
               f"{runs.time_limit_note()}")

if st.button("Start training", type="primary", icon=":material/play_arrow:", key="start_run"):
    try:
        n_labels = (N_TRAIN if budget == "all" else int(budget)) if uses_labels else 0
        recipe = get_recipe(ss[f"train_recipe_{kind}"]) if names else None
        base_model, base_train = (recipe.model, recipe.train) if recipe else ({}, {})
        model_config = ModelConfig(**{**base_model, **dict(
            kind=kind, prior=prior, latent_dim=latent_dim, n_classes=n_classes, n_labels=n_labels,
            label_conditioned=label_conditioned, prior_std=std, hidden_dim=width, disc_hidden_dim=width)})
        train_config = TrainConfig(**{**base_train, **dict(
            epochs=epochs, batch_size=batch_size, labelled_batch_size=min(100, batch_size),
            lr_reconstruction=float(lr_rec), lr_discriminator=float(lr_disc), lr_generator=float(lr_gen),
            lr_supervised=float(lr_sup), seed=seed, input_noise=float(input_noise), lr_decay_epochs=decay,
            eval_size=1000)})
        runs.REGISTRY.start(user, model_config, train_config, device=dev,
                            recipe=recipe.name if recipe else None)
    except (ValueError, AAEError) as exc:
        st.error(f"Cannot start this run: {exc}")
    else:
        st.rerun()
