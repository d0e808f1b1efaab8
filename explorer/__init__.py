"""The AAE Explorer app's services (the Streamlit side; aae_core is the torch library and never imports this).

    catalog   the model catalogue the picker lists (JSON only)
    state     per-user session state: its keys, the user key, this user's run, page explanations
    models    the device, cached models of checkpoint folders, cached test sets
    uploads   checkpoints users upload: one parser (aae_core.uploads.read_upload), one cache by identity
    picker    the model picker every page shares, and the picked model (Pick / Current)
    maps      latent maps as the app uses them: cached, computed, or fitted in the background
    runs      training runs: the registry and queue, one run's thread, status, live callback, run folders
    tasks     other long computations (a UMAP fit) in background threads, shared by key
    settings  the environment's settings (trainings at once, threads, disk quota)
                (imports torch: pages import it only when they train)
    figures   Plotly figures
    exports   what users take away: PNGs, the encoded test set (CSV / NPZ), a checkpoint as an uploadable .zip
    widgets   small shared widgets: class selector, point picker, image rows, clicked points, training badge
    pages/    one script per page (run by st.navigation in app.py; not a top-level pages/ folder)

What a fresh server needs for a shipped model's first map (picker, catalog, a cached map, figures) imports
neither torch nor umap.
"""
