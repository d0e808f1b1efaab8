"""The Train page's form: what it holds and how its widgets change it.

The form's truth is st.session_state["train_choice"]: a start (a recipe, or a kind) and the changes made to
it, which Streamlit never clears. Each widget shows recipes.resolve(start, **changes), the same front door as
the command line, so what Start trains is what the form shows, also after Streamlit dropped the widgets' own
state (another page visited, a run in between: issue 16, 5.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import streamlit as st

from aae_core import ModelConfig, TrainConfig
from aae_core.families import FAMILIES, get_family
from aae_core.priors import PRIOR_TYPES
from aae_core.recipes import ALL_LABELS, N_TRAIN, Resolved, default_recipe, get_recipe, resolve
from explorer import runs

if TYPE_CHECKING:
    import torch

PRIOR_NAMES = {"gaussian": "Gaussian", "mixture": "mixture of 10 Gaussians (2-D)",
               "swiss_roll": "swiss roll (2-D)", "categorical": "categorical (one-hot)"}
LABEL_CHOICES = ["100", "1000", "10000", "all"]
WIDTHS = [64, 128, 256, 512, 1000]
# The form's widgets and the config fields they change.
FORM = {"train_prior": "prior", "train_label_cond": "label_conditioned", "train_clusters": "n_classes",
        "train_consistency": "consistency_eps",
        "train_latent": "latent_dim", "train_std": "prior_std", "train_epochs": "epochs",
        "train_decay": "lr_decay_epochs", "train_batch": "batch_size", "train_width": "hidden_dim",
        "train_seed": "seed", "train_lr_rec": "lr_reconstruction", "train_lr_disc": "lr_discriminator",
        "train_lr_gen": "lr_generator", "train_lr_sup": "lr_supervised"}
SCHEDULED = {"input_noise": "input noise", "disc_input_noise": "noise on D's inputs",
             "class_code_noise": "noise on the class code", "lr_generator": "generator rate",
             "lr_discriminator": "discriminator rate", "lr_reconstruction": "reconstruction rate"}
# The learning rates' widgets: (key, what the rate trains, the widget's step).
RATES = (("train_lr_rec", "reconstruction", 1e-4), ("train_lr_disc", "discriminator", 1e-5),
         ("train_lr_gen", "generator", 1e-5))
SUPERVISED_RATE = ("train_lr_sup", "labelled batch", 1e-4)


def choice() -> dict:
    return st.session_state.setdefault("train_choice", {"start": ModelConfig.kind, "changes": {}, "labels": None})


def resolved() -> Resolved:
    c = choice()
    return resolve(c["start"], labels=c["labels"], **c["changes"])


def current() -> tuple[Resolved, str | None]:
    """What the form shows, set up on its first draw. Changes that no longer fit (an older session's form) start
    it again from its recipe: then the second value says why."""
    start = choice()["start"]
    if "train_kind" not in st.session_state:
        st.session_state["train_kind"] = start if start in FAMILIES else get_recipe(start).model["kind"]
    try:
        return resolved(), None
    except ValueError as exc:
        restart(start)
        return resolved(), str(exc)


def start_run(user: str, device: torch.device) -> None:
    """Start training what the form shows (evaluating on 1000 held-out images; labelled batches of at most 100,
    never more than the batch size). Raises ValueError or AAEError with a message for the user."""
    c = choice()
    batch_size = resolved().train.batch_size
    final = resolve(c["start"], labels=c["labels"], **{**c["changes"], "eval_size": 1000,
                                                      "labelled_batch_size": min(100, batch_size)})
    runs.REGISTRY.start(user, final.model, final.train, device=device,
                        recipe=final.recipe.name if final.recipe else None)


def labels_shown(m: ModelConfig) -> str:
    """The 'Labelled images' choice that stands for the config's labels."""
    return "all" if m.n_labels >= N_TRAIN else str(m.n_labels)


def width_shown(hidden_dim: int) -> int:
    """The slider's width nearest to the config's."""
    return min(WIDTHS, key=lambda w: abs(w - hidden_dim))


def rates(kind: str, label_conditioned: bool, consistency_eps: float = 0.0) -> tuple[tuple[str, str, float], ...]:
    """The learning-rate widgets of a kind: a labelled-batch phase adds its own rate, which the consistency phase
    (consistency_eps > 0) also trains at."""
    batch = get_family(kind).label_use(label_conditioned) == "batch"
    if not (batch or consistency_eps):
        return RATES
    key, _, step = SUPERVISED_RATE
    label = " and ".join(w for w, on in (("labelled batch", batch), ("consistency", consistency_eps)) if on)
    return (*RATES, (key, label, step))


def schedules(kind: str, t: TrainConfig) -> Iterator[tuple[str, str, str, float, bool]]:
    """The schedulable fields of a kind: (field, label, shape shown, final value shown, is a learning rate)."""
    for field, label in SCHEDULED.items():
        if field == "class_code_noise" and not get_family(kind).classes:
            continue
        sched, lr = t.schedules.get(field), field.startswith("lr_")
        yield (field, label, sched.shape if sched else "constant",
               sched.final if sched else (t.start_value(field) / 10 if lr else 0.0), lr)


def restart(start: str) -> None:
    """The form starts again from `start` (a recipe, or a kind's default recipe)."""
    st.session_state["train_choice"] = {"start": start, "changes": {}, "labels": None}
    for key in [k for k in st.session_state if str(k).startswith(("train_", "sched_"))]:
        if key not in ("train_kind", "train_choice") and not str(key).startswith("train_recipe_"):
            del st.session_state[key]


def changed(key: str) -> None:
    """A widget moved: record its field's change (and drop changes the new value makes meaningless)."""
    ss, changes = st.session_state, choice()["changes"]
    field = FORM.get(key, "input_noise")
    value = ss[key]
    changes[field] = value
    if field == "hidden_dim":
        changes["disc_hidden_dim"] = value
    if field == "prior":
        prior = PRIOR_TYPES[value]
        if prior.latent_dim_for(10) is not None:
            changes.pop("latent_dim", None)
            ss.pop("train_latent", None)
        if not prior.parts_per_label:
            changes.pop("label_conditioned", None)
            ss.pop("train_label_cond", None)


def changed_labels(key: str) -> None:
    value = st.session_state[key]
    choice()["labels"] = ALL_LABELS if value == "all" else int(value)


def changed_schedule(field: str) -> None:
    ss = st.session_state
    schedules = choice()["changes"].setdefault("schedules", {})
    schedules[field] = {"shape": ss[f"sched_{field}"], "final": float(ss.get(f"sched_final_{field}", 0.0))}


def shown(key: str, value) -> None:
    """Give widget `key` the form's value when Streamlit has none for it (first draw, or dropped)."""
    st.session_state.setdefault(key, value)


def on_kind() -> None:
    kind = st.session_state["train_kind"]
    recipe = default_recipe(kind)
    if recipe is not None:
        st.session_state[f"train_recipe_{kind}"] = recipe.name
    restart(kind if recipe is None else recipe.name)


def on_recipe(kind: str) -> None:
    restart(st.session_state[f"train_recipe_{kind}"])
