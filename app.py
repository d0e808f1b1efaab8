"""AAE Explorer: train or load an Adversarial Autoencoder and explore its latent space.

    streamlit run app.py
"""

import streamlit as st

from explorer import picker, share, state, widgets

# The favicon is an emoji, drawn by the browser: a ":material/...:" page icon makes the browser fetch the
# favicon from Google's font CDN (the sidebar's material icons come from the font bundled with Streamlit).
st.set_page_config(page_title="AAE Explorer", page_icon="🧭", layout="wide")
if state.init_session():
    share.restore()  # a reload or a shared link: its model, clicked point and presentation mode

# The pages live in explorer/pages/, not in a top-level pages/: with a folder named pages/ next to the
# entrypoint, Streamlit (1.67) falls back to its v1 multipage mode on a fresh server whose first request is a
# page URL, and runs that page without this script (no sidebar, no model picker).
PAGES = "explorer/pages"
page = st.navigation([
    st.Page(f"{PAGES}/home.py", title="Home", icon=":material/home:", default=True),
    st.Page(f"{PAGES}/train.py", title="Train", icon=":material/model_training:"),
    st.Page(f"{PAGES}/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page(f"{PAGES}/game.py", title="The adversarial game", icon=":material/sports_esports:"),
    st.Page(f"{PAGES}/sliders.py", title="Decoder sliders", icon=":material/tune:"),
    st.Page(f"{PAGES}/style_class.py", title="Style × class", icon=":material/grid_view:"),
    st.Page(f"{PAGES}/interpolate.py", title="Interpolate", icon=":material/linear_scale:"),
    st.Page(f"{PAGES}/compare.py", title="Compare", icon=":material/compare:"),
    st.Page(f"{PAGES}/prior_fit.py", title="Prior fit", icon=":material/bar_chart:"),
    st.Page(f"{PAGES}/classes.py", title="Classes & clusters", icon=":material/category:"),
    st.Page(f"{PAGES}/draw.py", title="Draw a digit", icon=":material/draw:"),
    st.Page(f"{PAGES}/paper.py", title="The paper", icon=":material/menu_book:"),
])

with st.sidebar:
    picker.model_picker()
    description = st.empty()
    widgets.training_badge()
    state.presentation_toggle()
    share_slot = st.container()

try:
    page.run()
finally:  # after the page: a cached first map is drawn before the family's description imports torch
    picker.describe_pick(description)
    with share_slot:
        share.view_box(picker.quiet_pick(), page.url_path)
