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

The cold start's boundary, drawn once: TORCH_FREE names the modules a fresh server imports before a shipped
model's first map is on screen (app.py, the Home and Latent map pages, and all they import); they import neither
torch nor umap (tests/test_imports.py checks both in a fresh process, and that the set is closed under those
imports). Where they compute, they reach the library's torch modules through the package's lazy attribute,
`aae_core.explore.decode(...)` (aae_core/__init__.py), which imports the module on first use.
"""

TORCH_FREE = frozenset({
    "explorer", "explorer.catalog", "explorer.evaluation", "explorer.exports", "explorer.family_text",
    "explorer.figures", "explorer.game_figures", "explorer.game_layers", "explorer.map_view", "explorer.maps",
    "explorer.models", "explorer.picker", "explorer.point_view", "explorer.presence", "explorer.processes",
    "explorer.selection", "explorer.share", "explorer.state", "explorer.tasks", "explorer.umap_worker",
    "explorer.uploads", "explorer.widgets",
    "aae_core", "aae_core.checkpoint_meta", "aae_core.config", "aae_core.errors", "aae_core.fit_verdict",
    "aae_core.fsutil", "aae_core.idx", "aae_core.images", "aae_core.map_cache", "aae_core.metric_schema",
    "aae_core.prior_shapes", "aae_core.umap_fit",
})
