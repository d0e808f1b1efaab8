"""Per-user state: every session key set up in one block, the user's token (kept in the URL so that a reload
finds this user's training run again), this user's run, and the explanation each page opens with."""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import streamlit as st

from explorer import presence

if TYPE_CHECKING:
    from explorer.runs import TrainingJob

# Widget keys shared across modules and pages.
MODEL_KEY, UPLOADER_KEY, MAP_CHART_KEY = "model_ref", "checkpoint_upload", "latent_map_chart"
PRESENTATION_KEY = "presentation"
# Presentation mode: every rem of the app grows by a quarter (Streamlit sizes its text in rem), for projectors.
PRESENTATION_CSS = "<style>html { font-size: 20px; } [data-testid='stSidebar'] { font-size: 16px; }</style>"


def init_session() -> bool:
    """Every per-user key, set once per browser session (and the user key kept in the URL). True on the
    session's first run (when the URL's view is to be read: explorer.share.restore)."""
    ss = st.session_state
    first = "user_token" not in ss
    for key, value in {
        "uploads": {},        # identity -> file names, the checkpoints this user uploaded
        "upload_error": None,  # the one message shown when an upload is not a usable checkpoint
        "upload_seen": set(),  # the uploader's files read already (by name and content)
        "selected": None,      # the point last clicked on the latent map (dict, see widgets.remember_click)
        "slider_z": None,      # {"fingerprint", "z": [...], "y": class or None} the decoder sliders' code
        "style_grid": [],      # styles collected on the Style x class page
        PRESENTATION_KEY: False,  # presentation mode (sidebar toggle): large map, larger fonts, full contrast
        "drawn_digit": None,   # the digit drawn on the Draw page, MNIST-style: uint8 [28, 28] as nested lists
    }.items():
        ss.setdefault(key, value)
    user_key()
    return first


TOKEN_BYTES = 32                                   # secrets.token_urlsafe(32): 43 URL-safe characters
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class TokenBook:
    """The tokens this server process has given to browser sessions. A token in a URL is adopted only when it
    is one of these: a guessed, mistyped, truncated or malformed one, or one from before a restart, opens
    nothing and the session gets a new one. Plain Python (no Streamlit calls), shared by all sessions."""

    MAX_TOKENS = 100_000      # ~10 MB at most; the least recently seen go first

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: OrderedDict[str, None] = OrderedDict()

    def issue(self) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._lock:
            self._issued[token] = None
            while len(self._issued) > self.MAX_TOKENS:
                self._issued.popitem(last=False)
        return token

    def known(self, token: object) -> bool:
        if not isinstance(token, str) or _TOKEN_SHAPE.fullmatch(token) is None:
            return False
        with self._lock:
            if token not in self._issued:
                return False
            self._issued.move_to_end(token)
            return True


TOKENS = TokenBook()


def owner_of(token: str) -> str:
    """The id a token's runs are filed under (the job registry, config.json's "app_user", the picker's "your
    run"): a digest, so that no file on disk holds the token that opens them."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def presenting() -> bool:
    """Whether presentation mode is on (the sidebar toggle drawn by app.py)."""
    return bool(st.session_state.get(PRESENTATION_KEY))


def presentation_toggle() -> None:
    """The sidebar's presentation-mode switch; when on, the whole app's text grows (pages read presenting())."""
    st.toggle("Presentation mode", key=PRESENTATION_KEY,
              help="For a projector: a large latent map with larger fonts and full-contrast colours.")
    if presenting():
        st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)


def user_key() -> str:
    """This user's owner id. The session's token comes from the URL's ?user= when this server issued it (a
    reload, or the same link in another tab), else it is made now; the URL always shows the session's token."""
    ss = st.session_state
    if "user_token" not in ss:
        from_url = st.query_params.get("user")
        ss["user_token"] = from_url if TOKENS.known(from_url) else TOKENS.issue()
        ss["user_key"] = owner_of(ss["user_token"])
    if st.query_params.get("user") != ss["user_token"]:
        st.query_params["user"] = ss["user_token"]
    presence.note(ss["user_key"])
    return ss["user_key"]


def user_job() -> TrainingJob | None:
    """This user's training run in this server process, if any. (No run can exist before explorer.runs.registry has
    created its REGISTRY, so a page that trains nothing does not import it, nor torch. While another session is
    still importing it, the module is in sys.modules without a REGISTRY yet: then there is no run either; 20
    sessions arriving at once hit exactly that, benchmarks/lecture_hall.py.)"""
    registry = getattr(sys.modules.get("explorer.runs.registry"), "REGISTRY", None)
    return registry.get(user_key()) if registry is not None else None


def explain(text: str, slot=None) -> None:
    """The two or three sentences every page opens with: what is on screen and why it matters (into `slot`,
    an st.empty() placeholder, when the text is only known later in the page)."""
    (slot or st).info(text, icon=":material/school:")
