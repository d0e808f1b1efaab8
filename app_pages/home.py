"""Home: what an AAE is, the model every page uses, and the device."""

import streamlit as st

import app_state
from aae_core import catalog

DIAGRAM = """
digraph AAE {
  rankdir=LR; bgcolor="transparent"; nodesep=0.35; ranksep=0.55;
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, color="#555555"];
  edge [fontname="Helvetica", fontsize=10, color="#555555"];
  x     [label="image x", shape=note, fillcolor="#eeeeee"];
  enc   [label="Encoder q(z|x)\\n(also the generator)", fillcolor="#cfe2f3"];
  z     [label="code z", shape=ellipse, fillcolor="#fff2cc"];
  dec   [label="Decoder p(x|z)", fillcolor="#d9ead3"];
  xhat  [label="reconstruction x̂", shape=note, fillcolor="#eeeeee"];
  prior [label="prior samples\\nz' ~ p(z)", shape=ellipse, fillcolor="#fce5cd"];
  disc  [label="Discriminator D\\n\\"prior sample or code?\\"", fillcolor="#f4cccc"];
  x -> enc -> z -> dec -> xhat [color="#3d85c6", penwidth=1.6];
  z -> disc [color="#cc0000", label="  ② D learns to tell\\n  codes from prior", fontcolor="#cc0000"];
  prior -> disc [color="#cc0000"];
  disc -> enc [style=dashed, color="#38761d", constraint=false,
               label="③ encoder learns to fool D", fontcolor="#38761d"];
  { rank=same; z; prior; }
  label="① reconstruction: encoder + decoder minimise ‖x − x̂‖ (blue path)"; labelloc=b; fontname="Helvetica";
  fontsize=11;
}
"""

st.title("Adversarial Autoencoder Explorer")
app_state.explain(
    "This app lets you look inside an Adversarial Autoencoder (Makhzani et al., 2015): where it puts each "
    "image in its latent space, how that space compares with the prior it was pushed toward, and what each "
    "point and direction decodes to. Pick a model in the sidebar (every page uses it), then open the "
    "Latent map.")

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("What an AAE is")
    st.markdown(
        "An autoencoder squeezes each image **x** into a short code **z** and rebuilds it; on its own it "
        "leaves the codes wherever is convenient, so most points of the latent space decode to nonsense. "
        "An **adversarial** autoencoder adds a third network, a **discriminator**, that sees codes of real "
        "images next to samples drawn from a chosen **prior** p(z) (a Gaussian, a mixture, a swiss roll) and "
        "learns to tell them apart, while the encoder learns to fool it. When neither can win, the codes "
        "fill the prior: then *any* sample of the prior decodes to a plausible image, and the decoder is a "
        "generative model. Given labels, the decoder can also take the class separately, so z keeps only "
        "the *style* (paper §4-§5).")
    st.graphviz_chart(DIAGRAM, width="stretch")
    st.markdown(
        "Every mini-batch runs the phases in turn, each with its own optimizer step: "
        "**① reconstruction** (encoder + decoder), **② discriminator** (D only; codes are detached), "
        "**③ generator** (encoder only, to make D call its codes prior samples), and, with labels, a "
        "**supervised** phase for the class head.")

with right:
    st.subheader("The model")
    st.caption("Every page uses the model picked in the sidebar: a shipped checkpoint, a run trained on the "
               "Train page (it appears there when it ends), or a checkpoint you upload here.")
    cur = app_state.current_model()
    if cur is not None:
        st.markdown(f"**{cur.name}** — {cur.description}")
        meta = cur.info.meta if cur.info else getattr(cur.model, "checkpoint_meta", {})
        progress = meta.get("progress") or {}
        facts = {"kind": cur.config.kind, "prior": cur.config.prior, "latent dimensions": cur.config.latent_dim,
                 "labelled images": f"{cur.config.n_labels:,}", "hidden units": cur.config.hidden_dim}
        if progress:
            facts["trained"] = f"{progress.get('epoch', '?')} epochs ({progress.get('step', '?')} steps)"
        facts.update(catalog.summarize_metrics(cur.info.metrics if cur.info else None))
        st.table({"": list(facts.keys()), "value": [str(v) for v in facts.values()]})
        if meta.get("command"):
            st.code(meta["command"], language="bash")
    app_state.upload_widget()
    st.subheader("Device")
    st.markdown(f"Models run on **{app_state.device_line()}**.")

st.subheader("Available models")
infos = catalog.list_checkpoints()
if infos:
    rows = [{"name": i.name, "source": i.source, "model": catalog.describe_config(i.config),
             **catalog.summarize_metrics(i.metrics)} for i in infos]
    st.dataframe(rows, hide_index=True, width="stretch")
else:
    st.caption(f"No checkpoints in {catalog.checkpoints_dir()} or {catalog.runs_dir()} yet.")
