"""Who is still here: whether a user (an owner id, explorer.state.owner_of) still has a browser session that
this server knows, so that the training queue does not spend the machine on runs nobody will see.

Streamlit keeps a session whose browser went away (a closed tab, a laptop put to sleep, a dropped network) for
`server.disconnectedSessionTTL` seconds (120 by default) so that it can reconnect; a user is *here* while any of
their sessions is connected or still kept that way. Every script run notes its session under its user
(`note`, called by explorer.state.user_key). Where nothing can be known (no Streamlit server: the CLI, AppTest,
the tests' registries; a user never noted; a Streamlit without the session manager this reads) a user counts
as here, so that nothing is ever dropped on a guess."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from streamlit import config
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

log = logging.getLogger(__name__)

MAX_USERS = 100_000          # the least recently noted go first (as explorer.state.TokenBook)

_lock = threading.Lock()
_sessions: OrderedDict[str, set[str]] = OrderedDict()   # user -> ids of the sessions seen running their scripts


def note(user: str) -> None:
    """Remember that the script running now belongs to `user` (a no-op outside a Streamlit script run)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return
    with _lock:
        sessions = _sessions.setdefault(user, set())
        sessions.add(ctx.session_id)
        _sessions.move_to_end(user)
        while len(_sessions) > MAX_USERS:
            _sessions.popitem(last=False)


def _server_session_lookup() -> Callable[[str], object] | None:
    """Streamlit's session lookup (connected sessions and those kept for a reconnect), or None where there is no
    server or it has no such lookup."""
    try:
        if not Runtime.exists():
            return None
        manager = getattr(Runtime.instance(), "_session_mgr", None)
        return getattr(manager, "get_session_info", None)
    except Exception:  # a Streamlit that changed: never drop anyone on a guess
        log.debug("no session lookup", exc_info=True)
        return None


def here(user: str, lookup: Callable[[str], object] | None = None) -> bool:
    """Whether `user` still has a session this server knows (True whenever that cannot be known). `lookup`
    maps a session id to its info or None (default: the running Streamlit server's)."""
    lookup = lookup or _server_session_lookup()
    if lookup is None:
        return True
    with _lock:
        sessions = _sessions.get(user)
        if sessions is None:
            return True
        ids = list(sessions)
    try:
        known = [sid for sid in ids if lookup(sid) is not None]
    except Exception:
        log.debug("session lookup failed", exc_info=True)
        return True
    with _lock:                     # forget the sessions that are gone for good; the user's entry stays
        if user in _sessions:
            _sessions[user].intersection_update(set(known) | (_sessions[user] - set(ids)))
    return bool(known)


def kept_for_s() -> float:
    """How long the server keeps a session whose browser went away (Streamlit's disconnectedSessionTTL)."""
    try:
        return float(config.get_option("server.disconnectedSessionTTL"))
    except Exception:  # noqa: BLE001  (a Streamlit without the option: its long-standing default)
        return 120.0
