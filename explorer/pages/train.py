"""Train: pick a model and a recipe, start a run in the background, watch it learn, stop it any time."""

import streamlit as st

from aae_core import ModelConfig, TrainConfig
from aae_core.errors import AAEError
from explorer import catalog, figures, jobs, models, state

KIND_HELP = {
    "unsupervised": "Codes pushed to a prior of your choice (paper §2).",
    "supervised": "The decoder also gets the label, so z keeps only the style (§4).",
    "semi_supervised": "A class head learns from a few labels; z keeps the style (§5).",
    "clustering": "The class head finds clusters without any labels (§6).",
    "vae": "The variational autoencoder baseline: a KL term instead of a discriminator.",
}
PRIOR_NAMES = {"gaussian": "Gaussian", "mixture": "mixture of 10 Gaussians (2-D)",
               "swiss_roll": "swiss roll (2-D)", "categorical": "categorical (one-hot)"}
N_TRAIN = {"mnist": 60000, "fashion_mnist": 60000}
DEFAULTS = TrainConfig()

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


def draw(job: jobs.TrainingJob, s: jobs.JobStatus) -> None:
    """The live (or final) view of a run."""
    head, stop_col = st.columns([5, 1])
    head.subheader(f"Run {s.out.name}")
    if not s.done:
        stop_col.button("Stop", key="stop_run", on_click=job.stop, icon=":material/stop_circle:", type="primary")
    if not s.total_steps:
        text = s.message
    elif s.done:
        text = f"{s.epoch} of {s.epochs} epochs done · step {s.step:,} of {s.total_steps:,} · {s.elapsed:.0f} s"
    else:
        text = f"epoch {s.epoch + 1} of {s.epochs} · step {s.step:,} of {s.total_steps:,} · {s.elapsed:.0f} s"
    st.progress(s.progress, text=text)
    if s.state == "finished":
        st.success(f"{s.message}. It is now in the model picker.")
    elif s.state == "stopped":
        st.warning(f"{s.message}. The checkpoint is in the model picker.")
    elif s.state == "diverged":
        st.error(f"Training diverged: {s.message}")
    elif s.state == "failed":
        st.error(s.message)
    else:
        st.caption(s.message)
    if s.done:
        c1, c2, _ = st.columns([1, 1, 3])
        if s.has_checkpoint:
            c1.button("Use this model", key="use_run", on_click=use_model, args=(str(s.out.resolve()),),
                      icon=":material/check:")
        c2.button("New run", key="new_run", on_click=jobs.REGISTRY.forget, args=(user,), icon=":material/add:")
    left, right = st.columns(2)
    with left:
        st.markdown("**Losses** (smoothed per mini-batch)")
        st.plotly_chart(figures.loss_figure(s.losses), key="loss_chart")
        if s.history:
            keep = [k for k in s.history[-1] if k not in ("step",)]
            st.dataframe([{k: round(h[k], 4) if isinstance(h[k], float) else h[k] for k in keep if k in h}
                          for h in s.history], hide_index=True, height=150)
    with right:
        st.markdown("**Encoded test points vs prior samples** (first two code dimensions)")
        if s.snapshot is not None:
            st.plotly_chart(figures.snapshot_figure(s.snapshot, axis_range=figures.snapshot_range(s.snapshot)),
                            key="snapshot_chart")
        else:
            st.caption("The first picture appears when the data is loaded.")


@st.fragment(run_every=1.0)
def live(job: jobs.TrainingJob) -> None:
    """Polls the worker once a second; the worker itself never calls Streamlit."""
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
c1, c2, c3 = st.columns(3)
with c1:
    kind = st.selectbox("Kind", list(KIND_HELP), format_func=lambda k: catalog.KIND_NAMES[k], key="train_kind",
                        persist_state="session")
    st.caption(KIND_HELP[kind])
    priors = list(PRIOR_NAMES) if kind == "unsupervised" else ["gaussian"]
    prior = st.selectbox("Prior p(z)", priors, format_func=PRIOR_NAMES.get, key="train_prior",
                         disabled=len(priors) == 1, persist_state="session")
    label_conditioned = False
    if prior in ("mixture", "swiss_roll"):
        label_conditioned = st.checkbox("Label-conditioned (each digit gets its own part of the prior, §2.3)",
                                        key="train_label_cond", persist_state="session")
    if kind == "clustering":
        n_classes = int(st.number_input("Clusters", 2, 50, 16, key="train_clusters", persist_state="session"))
    else:
        n_classes = 10
    if prior in ("mixture", "swiss_roll"):
        latent_dim = 2
        st.caption("This prior is 2-D: the latent size is 2.")
    elif prior == "categorical":
        latent_dim = n_classes
        st.caption("A one-hot prior has one dimension per category (10).")
    else:
        latent_dim = int(st.number_input("Latent size (style dimensions)", 1, 64, 2, key="train_latent",
                                         persist_state="session"))
    std = 1.0
    if prior == "gaussian":
        std = float(st.number_input("Prior σ", 0.1, 10.0, 1.0, step=0.5, key="train_std", persist_state="session",
                                    help="The paper's 2-D figures use σ = 5."))
with c2:
    uses_labels = kind in ("supervised", "semi_supervised") or label_conditioned
    budget = "none"
    if uses_labels:
        choices = ["100", "1000", "10000", "all"]
        budget = st.selectbox("Labelled images", choices, index=0 if kind == "semi_supervised" else 3,
                              key=f"train_labels_{kind}", persist_state="session")
    else:
        st.caption("This kind uses no labels.")
    epochs = int(st.number_input("Epochs", 1, 500, 5, key="train_epochs", persist_state="session"))
    batch_size = int(st.number_input("Batch size", 16, 1000, 100, step=10, key="train_batch", persist_state="session"))
    width = int(st.select_slider("Hidden units per layer", [64, 128, 256, 512, 1000], 256, key="train_width",
                                 persist_state="session",
                                 help="The paper uses 1000; 256 trains about 8x faster on a CPU."))
    seed = int(st.number_input("Seed", 0, 10**6, 0, key="train_seed", persist_state="session"))
with c3:
    lr_rec = st.number_input("Learning rate: reconstruction", 1e-6, 1.0, DEFAULTS.lr_reconstruction, format="%.0e",
                             step=1e-4, key="train_lr_rec", persist_state="session")
    lr_disc = st.number_input("Learning rate: discriminator", 1e-6, 1.0, DEFAULTS.lr_discriminator, format="%.0e",
                              step=1e-5, key="train_lr_disc", persist_state="session")
    lr_gen = st.number_input("Learning rate: generator", 1e-6, 1.0, DEFAULTS.lr_generator, format="%.0e",
                             step=1e-5, key="train_lr_gen", persist_state="session")
    lr_sup = DEFAULTS.lr_supervised
    if kind == "semi_supervised":
        lr_sup = st.number_input("Learning rate: supervised", 1e-6, 1.0, DEFAULTS.lr_supervised, format="%.0e",
                                 step=1e-4, key="train_lr_sup", persist_state="session")
    input_noise = st.number_input(
        "Input noise (std)", 0.0, 1.0, 0.3 if kind in ("semi_supervised", "clustering") else 0.0, step=0.05,
        key=f"train_input_noise_{kind}", persist_state="session",
        help="Gaussian noise on what the encoder sees while training; the decoder still rebuilds the clean "
             "image. 0.3 cut the semi-supervised error by about 3 points in early epochs (see the README).")
    st.caption(f"Runs on {models.device_line()}. On a CPU an epoch of 60,000 images takes 10-40 s.")

if st.button("Start training", type="primary", icon=":material/play_arrow:", key="start_run"):
    try:
        n_train = N_TRAIN["mnist"]
        n_labels = (n_train if budget == "all" else int(budget)) if uses_labels else 0
        model_config = ModelConfig(kind=kind, prior=prior, latent_dim=latent_dim, n_classes=n_classes,
                                   n_labels=n_labels, label_conditioned=label_conditioned, prior_std=std,
                                   hidden_dim=width, disc_hidden_dim=width)
        train_config = TrainConfig(epochs=epochs, batch_size=batch_size, labelled_batch_size=min(100, batch_size),
                                   lr_reconstruction=float(lr_rec), lr_discriminator=float(lr_disc),
                                   lr_generator=float(lr_gen), lr_supervised=float(lr_sup), seed=seed,
                                   input_noise=float(input_noise), eval_size=1000)
        jobs.REGISTRY.start(user, model_config, train_config, device=dev)
    except (ValueError, AAEError) as exc:
        st.error(f"Cannot start this run: {exc}")
    else:
        st.rerun()
