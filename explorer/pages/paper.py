"""The paper beside the model: one click opens the shipped model of a figure or table on the page that shows it."""

import streamlit as st

from explorer import paper_guide, state

st.title("The paper beside the model")
state.explain(
    "Makhzani et al., \"Adversarial Autoencoders\" (2015), shows its ideas in figures and tables. Each shipped "
    "model was trained for one of them (aae_core/recipes.py). A button below picks that model and opens the page "
    "that shows the same thing; where the paper gives a number, ours (from the model's metrics.json) stands next "
    "to it, gaps included.")

go = st.session_state.pop("paper_go", None)
if go:
    st.switch_page(go)


def open_view(ref: str, page: str, extra: dict[str, str]) -> None:
    """Pick the model (a callback: the sidebar's picker is drawn before the page) and go to `page`."""
    st.session_state[state.MODEL_KEY] = ref
    st.session_state.update(extra)
    st.session_state["paper_go"] = page


shipped = paper_guide.shipped_models()
for view in paper_guide.VIEWS:
    st.subheader(f"{view.label}: {view.title}")
    st.caption(view.paper_shows)
    recipes = view.recipes
    cols = st.columns(max(len(recipes), 1))
    for col, name in zip(cols, recipes, strict=False):
        info = shipped.get(name)
        with col:
            paper_label = next(r.paper for r in paper_guide.RECIPES.values() if r.name == name)
            st.markdown(f"**{name}** ({paper_label})")
            if info is None:
                st.caption("Not shipped here: train it with "
                           f"`python -m aae_core.train --recipe {name}`.")
                continue
            extra = {}
            if name in view.compare_with and view.compare_with[name] in shipped:
                extra = {"compare_a": info.ref, "compare_b": shipped[view.compare_with[name]].ref}
            st.button(f"Open on {view.page_title}", key=f"paper_{name}", icon=":material/open_in_new:",
                      on_click=open_view, args=(info.ref, view.page, extra))
            ours = paper_guide.our_value(view, info)
            paper = view.paper_values.get(name)
            if paper is not None:
                mine = f"{100 * ours:.2f} %" if ours is not None else "not evaluated"
                st.markdown(f"Paper: **{100 * paper:.2f} %** · ours: **{mine}**")
                if ours is not None:
                    st.caption(f"Ours is {paper_guide.gap_words(ours, paper)}.")
            elif view.metric and ours is not None:
                st.caption(f"The paper gives no number here; ours: {100 * ours:.1f} % {view.our_words}.")
if any(v.paper_values for v in paper_guide.VIEWS):
    st.info(
        "Where ours falls short: the shipped models use 512-unit layers where the paper uses 1000, and were "
        "trained on a CPU for tens of epochs (the budgets are in aae_core/recipes.py), not with the paper's "
        "schedule. We have not shown that these are the whole reason; the numbers are what these checkpoints give "
        "on the 10,000 MNIST test images.", icon=":material/info:")
