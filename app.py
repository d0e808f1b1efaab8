"""AAE Explorer: train or load an Adversarial Autoencoder and explore its latent space.

    streamlit run app.py
"""

import streamlit as st

import app_state

st.set_page_config(page_title="AAE Explorer", page_icon=":material/explore:", layout="wide")
app_state.init_session()

# The pages live in app_pages/, not pages/: with a folder named pages/ next to the entrypoint, Streamlit
# (1.67) falls back to its v1 multipage mode on a fresh server whose first request is a page URL, and runs
# that page without this script (no sidebar, no model picker).
page = st.navigation([
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("app_pages/sliders.py", title="Decoder sliders", icon=":material/tune:"),
    st.Page("app_pages/style_class.py", title="Style × class", icon=":material/grid_view:"),
    st.Page("app_pages/interpolate.py", title="Interpolate", icon=":material/linear_scale:"),
])

with st.sidebar:
    app_state.model_picker()
    app_state.training_badge()

page.run()
