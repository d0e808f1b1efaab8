"""The split between the torch library and the app: aae_core never reaches for Streamlit, Plotly or the app;
the app's first paint needs no torch; the server's upload limit is the library's."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from aae_core.uploads import MAX_UPLOAD_BYTES

REPO = Path(__file__).resolve().parents[1]
UI_IMPORT = re.compile(r"^\s*(import|from)\s+(streamlit|plotly|explorer)\b", re.MULTILINE)


def test_the_library_imports_no_streamlit_no_plotly_and_not_the_app():
    sources = sorted((REPO / "aae_core").rglob("*.py"))
    assert sources
    found = {str(p.relative_to(REPO)): UI_IMPORT.findall(p.read_text()) for p in sources}
    assert {p: hits for p, hits in found.items() if hits} == {}


def test_streamlit_config_keeps_usage_stats_off_and_the_upload_limit_of_the_library():
    tomllib = pytest.importorskip("tomllib")                  # Python 3.11+
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES
    assert "fileWatcherType" not in config["server"]            # edits reload while developing
    assert config["runner"]["postScriptGC"] is False           # a full collection after every rerun


def test_the_favicon_is_not_fetched_from_a_font_cdn():
    """A ':material/...:' page_icon makes the browser load the favicon from fonts.gstatic.com."""
    app = (REPO / "app.py").read_text()
    [call] = re.findall(r"set_page_config\((.*?)\)", app, re.DOTALL)
    assert "page_icon" in call and ":material/" not in call


def test_a_session_asking_for_its_run_while_another_imports_the_runner_sees_none(monkeypatch):
    """A module being imported by another thread sits in sys.modules before its REGISTRY exists (seen with 20
    sessions arriving at once): the sidebar's run lookup must then say 'no run', not fail."""
    import types

    from explorer import state

    half = types.ModuleType("explorer.runs.registry")            # what another thread's import leaves visible
    monkeypatch.setitem(sys.modules, "explorer.runs.registry", half)
    monkeypatch.setattr(state, "user_key", lambda: "someone")
    assert state.user_job() is None
