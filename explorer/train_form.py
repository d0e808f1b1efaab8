"""The Train page's form: what it holds and how its widgets change it.

The form's truth is st.session_state["train_choice"]: a start (a recipe, or a kind) and the changes made to
it, which Streamlit never clears. Each widget shows recipes.resolve(start, **changes), the same front door as
the command line, so what Start trains is what the form shows, also after Streamlit dropped the widgets' own
state (another page visited, a run in between: issue 16, 5.1).
"""

import streamlit as st

from aae_core import ModelConfig
from aae_core.families import get_family
from aae_core.priors import PRIOR_TYPES
from aae_core.recipes import ALL_LABELS, Resolved, recipes_for, resolve

PRIOR_NAMES = {"gaussian": "Gaussian", "mixture": "mixture of 10 Gaussians (2-D)",
               "swiss_roll": "swiss roll (2-D)", "categorical": "categorical (one-hot)"}
LABEL_CHOICES = ["100", "1000", "10000", "all"]
WIDTHS = [64, 128, 256, 512, 1000]
# The form's widgets and the config fields they change.
FORM = {"train_prior": "prior", "train_label_cond": "label_conditioned", "train_clusters": "n_classes",
        "train_latent": "latent_dim", "train_std": "prior_std", "train_epochs": "epochs",
        "train_decay": "lr_decay_epochs", "train_batch": "batch_size", "train_width": "hidden_dim",
        "train_seed": "seed", "train_lr_rec": "lr_reconstruction", "train_lr_disc": "lr_discriminator",
        "train_lr_gen": "lr_generator", "train_lr_sup": "lr_supervised"}
SCHEDULED = {"input_noise": "input noise", "disc_input_noise": "noise on D's inputs",
             "class_code_noise": "noise on the class code", "lr_generator": "generator rate",
             "lr_discriminator": "discriminator rate", "lr_reconstruction": "reconstruction rate"}


def choice() -> dict:
    return st.session_state.setdefault("train_choice", {"start": ModelConfig.kind, "changes": {}, "labels": None})


def resolved() -> Resolved:
    c = choice()
    return resolve(c["start"], labels=c["labels"], **c["changes"])


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
    names = [r.name for r in recipes_for(kind)]
    start = get_family(kind).default_recipe if get_family(kind).default_recipe in names else (names or [kind])[0]
    if names:
        st.session_state[f"train_recipe_{kind}"] = start
    restart(start)


def on_recipe(kind: str) -> None:
    restart(st.session_state[f"train_recipe_{kind}"])
