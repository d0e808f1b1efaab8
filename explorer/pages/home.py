"""Home: what an AAE is, the model every page uses, and the device."""

import streamlit as st

from explorer import catalog, exports, models, picker, state, uploads

DIAGRAM = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 660 300" font-family="Helvetica, Arial, sans-serif"
 font-size="14" text-anchor="middle">
 <defs>
  <marker id="b" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
   <path d="M0,0 L10,5 L0,10 z" fill="#3d85c6"/></marker>
  <marker id="r" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
   <path d="M0,0 L10,5 L0,10 z" fill="#cc0000"/></marker>
  <marker id="g" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
   <path d="M0,0 L10,5 L0,10 z" fill="#38761d"/></marker>
 </defs>
 <text x="330" y="20" fill="#3d85c6" font-weight="bold">① reconstruction: encoder + decoder rebuild x</text>
 <rect x="8" y="42" width="92" height="44" rx="4" fill="#eeeeee" stroke="#777"/>
 <text x="54" y="69">image x</text>
 <rect x="128" y="36" width="134" height="56" rx="10" fill="#cfe2f3" stroke="#555"/>
 <text x="195" y="60">Encoder q(z|x)</text><text x="195" y="80" font-size="12">(the generator)</text>
 <ellipse cx="330" cy="64" rx="42" ry="24" fill="#fff2cc" stroke="#555"/>
 <text x="330" y="69">code z</text>
 <rect x="398" y="36" width="128" height="56" rx="10" fill="#d9ead3" stroke="#555"/>
 <text x="462" y="69">Decoder p(x|z)</text>
 <rect x="554" y="42" width="98" height="44" rx="4" fill="#eeeeee" stroke="#777"/>
 <text x="603" y="69">rebuilt x̂</text>
 <g stroke="#3d85c6" stroke-width="2.2" marker-end="url(#b)">
  <line x1="100" y1="64" x2="126" y2="64"/><line x1="262" y1="64" x2="286" y2="64"/>
  <line x1="372" y1="64" x2="396" y2="64"/><line x1="526" y1="64" x2="552" y2="64"/></g>
 <ellipse cx="100" cy="236" rx="82" ry="30" fill="#fce5cd" stroke="#555"/>
 <text x="100" y="232">prior sample</text><text x="100" y="251" font-size="13">z′ ~ p(z)</text>
 <rect x="262" y="206" width="176" height="60" rx="10" fill="#f4cccc" stroke="#555"/>
 <text x="350" y="231">Discriminator D</text><text x="350" y="251" font-size="12">"prior sample or code?"</text>
 <g stroke="#cc0000" stroke-width="2.2" marker-end="url(#r)">
  <line x1="334" y1="88" x2="346" y2="204"/><line x1="182" y1="236" x2="260" y2="236"/></g>
 <text x="545" y="230" fill="#cc0000" font-weight="bold">② D learns to tell</text>
 <text x="545" y="250" fill="#cc0000" font-weight="bold">codes from prior samples</text>
 <path d="M 270 206 C 235 170, 205 140, 200 95" fill="none" stroke="#38761d" stroke-width="2.2"
  stroke-dasharray="7,5" marker-end="url(#g)"/>
 <text x="130" y="150" fill="#38761d" font-weight="bold">③ encoder learns</text>
 <text x="130" y="170" fill="#38761d" font-weight="bold">to fool D</text>
</svg>"""

st.title("Adversarial Autoencoder Explorer")
state.explain(
    "This app lets you look inside an Adversarial Autoencoder (Makhzani et al., 2015): where it puts each "
    "image in its latent space, how that space compares with the prior it was pushed toward, and what each "
    "point and direction decodes to. Pick a model in the sidebar (every page uses it), then open the "
    "Latent map.")

left, right = st.columns([3, 2], gap="large")
family_ref = picker.current_ref()
if family_ref is not None and family_ref.words.diagram:
    # A family with a diagram of its own (ALAE) is explained in its own words here, above the AAE's.
    with left:
        st.subheader(f"What the picked model is: {family_ref.words.title}")
        st.markdown(family_ref.words.explanation)
        st.image(family_ref.words.diagram, width="stretch",
                 caption=f"The networks of an {family_ref.words.title} and its training phases")
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
    st.image(DIAGRAM, width="stretch", caption="The three networks of an AAE and its three training phases")
    st.markdown(
        "**The three networks and the training phases.** Every mini-batch runs the phases in turn, each "
        "with its own optimizer step:\n\n"
        "1. **Reconstruction** (blue): encoder and decoder learn to rebuild x from z.\n"
        "2. **Discriminator** (red): D learns to tell codes z of real images from prior samples z' "
        "(the codes are detached, so only D learns).\n"
        "3. **Generator** (green, dashed): the encoder learns to make D call its codes prior samples.\n\n"
        "Models with labels add a **supervised** phase that trains the class head (paper §5).")

with right:
    # first in the column: an upload's message shows where the file was dropped, above the fold
    st.subheader("Your own checkpoint")
    uploads.upload_widget()
    st.subheader("The model")
    st.caption("Every page uses the model picked in the sidebar: a shipped checkpoint, a run trained on the "
               "Train page (it appears there when it ends), or a checkpoint you upload here.")
    cur = picker.current_model()
    if cur is not None:
        st.markdown(f"**{cur.name}** — {cur.description}")
        meta = cur.info.meta if cur.info else getattr(cur.model, "checkpoint_meta", {})
        progress = meta.get("progress") or {}
        facts = {"kind": cur.config.kind, "prior": catalog.prior_description(cur.config),
                 "latent dimensions": cur.config.latent_dim, "labelled images": f"{cur.config.n_labels:,}",
                 "hidden units": cur.config.hidden_dim}
        if progress:
            facts["trained"] = (f"{catalog.plural(progress.get('epoch', 0), 'epoch')} "
                                f"({catalog.plural(progress.get('step', 0), 'step')})")
        facts.update(catalog.summarize_metrics(cur.metrics))  # an upload's own metrics.json too
        st.table({"": list(facts.keys()), "value": [str(v) for v in facts.values()]})
        if meta.get("command"):
            st.code(meta["command"], language="bash")
        if cur.info is not None:  # the zip is made when the button is clicked, not on every visit
            st.download_button(
                "Download this checkpoint (.zip)", lambda folder=cur.info.path, name=cur.name:
                exports.checkpoint_zip(folder, name), file_name=exports.safe_name(cur.name) + ".zip",
                mime="application/zip", icon=":material/download:", on_click="ignore", key="checkpoint_zip",
                help="config.json, model.safetensors and metrics.json in one folder: the upload below (here or "
                     "on another server) takes it back as it is.")
    st.subheader("Device")
    st.markdown(f"Models run on **{models.device_line()}**.")

st.subheader("Available models")
infos = catalog.list_checkpoints()
if infos:
    st.caption("Each model's headline is the number that says most about its family (its own test error, the "
               "share of codes in their label's part of the prior, the prior fit); the picked model's full "
               "metrics are above.")
    st.table(catalog.model_rows(infos))  # a table, not a dataframe: every row and column on the page, wrapped
else:
    st.caption(f"No checkpoints in {catalog.checkpoints_dir()} or {catalog.runs_dir()} yet.")
