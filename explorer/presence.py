"""Who is still here: whether a user (an owner id, explorer.state.owner_of) still has a browser session that
this server knows, so that the training queue does not spend the machine on runs nobody will see.

Streamlit keeps a session whose browser went away (a closed tab, a laptop put to sleep, a dropped network) for
`server.disconnectedSessionTTL` seconds (120 by default) so that it can reconnect, at most 128 such sessions (the
oldest go first, so in a crowd a closed tab may be dropped sooner). A user is *here* while any of their sessions is
connected or still kept that way, and for GRACE_S after: a session caught between Streamlit's two tables while it
reconnects drops nobody. Every script run notes its session under its user (`note`, called by
explorer.state.user_key). Where nothing can be known (no Streamlit server: the CLI, AppTest, the tests' registries;
a user never noted; a Streamlit without the session manager this reads) a user counts as here, so that nothing is
ever dropped on a guess."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from streamlit import config
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

log = logging.getLogger(__name__)

MAX_USERS = 100_000          # the least recently noted go first (as explorer.state.TokenBook)
MAX_SESSIONS_PER_USER = 20   # a user's most recent sessions (each reload or tab is one)
GRACE_S = 5.0                # gone only after this long with no session known: one missed lookup never decides
                             # (a reconnecting session moves between Streamlit's two tables of sessions)
clock = time.monotonic


@dataclass
class _User:
    sessions: dict[str, None] = field(default_factory=dict)   # session ids, oldest first
    missing_since: float | None = None                        # when none of them was first found missing


_lock = threading.Lock()
_users: OrderedDict[str, _User] = OrderedDict()


def note(user: str) -> None:
    """Remember that the script running now belongs to `user` (a no-op outside a Streamlit script run)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return
    with _lock:
        record = _users.setdefault(user, _User())
        record.sessions.pop(ctx.session_id, None)
        record.sessions[ctx.session_id] = None
        record.missing_since = None
        while len(record.sessions) > MAX_SESSIONS_PER_USER:
            del record.sessions[next(iter(record.sessions))]
        _users.move_to_end(user)
        while len(_users) > MAX_USERS:
            _users.popitem(last=False)


def _server_session_lookup() -> Callable[[str], object] | None:
    """Streamlit's session lookup (connected sessions and those kept for a reconnect), or None where there is no
    server or it has no such lookup."""
    try:
        if not Runtime.exists():
            return None
        manager = getattr(Runtime.instance(), "_session_mgr", None)
        return getattr(manager, "get_session_info", None)
    except Exception:  # noqa: BLE001  (a Streamlit that changed: never drop anyone on a guess)
        log.debug("no session lookup", exc_info=True)
        return None


def here(user: str, lookup: Callable[[str], object] | None = None) -> bool:
    """Whether `user` is still here: one of their sessions is known to this server, or none has been for less
    than GRACE_S. True whenever that cannot be known. `lookup` maps a session id to its info or None (default:
    the running Streamlit server's)."""
    lookup = lookup or _server_session_lookup()
    if lookup is None:
        return True
    with _lock:
        record = _users.get(user)
        if record is None:
            return True
        ids = list(record.sessions)
    try:
        known = any(lookup(sid) is not None for sid in ids)
    except Exception:  # noqa: BLE001  (as above)
        log.debug("session lookup failed", exc_info=True)
        return True
    now = clock()
    with _lock:
        if known:
            record.missing_since = None
            return True
        if record.missing_since is None:
            record.missing_since = now
        return now - record.missing_since < GRACE_S


def kept_for_s() -> float:
    """How long the server keeps a session whose browser went away (Streamlit's disconnectedSessionTTL)."""
    try:
        return float(config.get_option("server.disconnectedSessionTTL"))
    except Exception:  # noqa: BLE001  (a Streamlit without the option: its long-standing default)
        return 120.0
