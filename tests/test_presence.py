"""Who is still here (explorer.presence): a user noted from their sessions' script runs is here while Streamlit
still knows one of those sessions; whatever cannot be known counts as here, so that no run is dropped on a
guess. The real server's side is tested in tests/test_lecture_queue.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from explorer import presence


@pytest.fixture
def now(monkeypatch):
    """presence's clock, moved by hand."""
    t = [1000.0]
    monkeypatch.setattr(presence, "clock", lambda: t[0])
    return t


@pytest.fixture
def sessions(monkeypatch, now):
    """A fresh book of users, and a way to run a 'script' as a given session."""
    monkeypatch.setattr(presence, "_users", type(presence._users)())
    current = {}
    monkeypatch.setattr(presence, "get_script_run_ctx",
                        lambda suppress_warning=False: SimpleNamespace(session_id=current["id"]) if current else None)

    def run_as(session_id: str | None, user: str) -> None:
        current.clear()
        if session_id is not None:
            current["id"] = session_id
        presence.note(user)

    return run_as


def test_a_user_is_here_while_one_of_their_sessions_is_known(sessions, now):
    sessions("s1", "ann")
    sessions("s2", "ann")                                   # a second tab with the same link
    known = {"s1", "s2"}
    lookup = lambda sid: {"id": sid} if sid in known else None  # noqa: E731
    assert presence.here("ann", lookup)
    known.discard("s1")
    assert presence.here("ann", lookup)                     # one tab still open
    known.clear()                                           # both gone (past the reconnect time) ...
    assert presence.here("ann", lookup)                     # ... but one missed look never decides
    now[0] += presence.GRACE_S - 0.1
    assert presence.here("ann", lookup)
    now[0] += 0.2
    assert not presence.here("ann", lookup)                 # missing for the whole grace: gone
    sessions("s3", "ann")                                   # back with the link: a new session
    known.add("s3")
    assert presence.here("ann", lookup)


def test_a_session_found_again_within_the_grace_clears_the_miss(sessions, now):
    sessions("s1", "bob")
    known = set()                                           # caught between Streamlit's tables while reconnecting
    lookup = lambda sid: {"id": sid} if sid in known else None  # noqa: E731
    assert presence.here("bob", lookup)
    known.add("s1")
    now[0] += 1
    assert presence.here("bob", lookup)                     # found again: the miss is forgotten
    known.clear()
    now[0] += presence.GRACE_S - 1
    assert presence.here("bob", lookup)                     # a new miss starts its own grace
    now[0] += presence.GRACE_S
    assert not presence.here("bob", lookup)
    sessions("s1", "bob")                                   # the same session runs a script again: here
    assert presence.here("bob", lookup)


def test_what_cannot_be_known_counts_as_here(sessions):
    nobody = lambda sid: None  # noqa: E731
    assert presence.here("never-seen", nobody)              # not noted by this server: no guess
    sessions(None, "cli")                                   # outside a script run: nothing is noted
    assert presence.here("cli", nobody)
    sessions("s1", "bob")
    assert presence.here("bob")                             # no Streamlit server in this process

    def broken(sid):
        raise RuntimeError("a Streamlit that changed")

    assert presence.here("bob", broken)


def test_the_book_of_users_and_their_sessions_is_bounded(sessions, monkeypatch):
    monkeypatch.setattr(presence, "MAX_USERS", 3)
    monkeypatch.setattr(presence, "MAX_SESSIONS_PER_USER", 2)
    for i in range(5):
        sessions(f"s{i}", f"user{i}")
    assert list(presence._users) == ["user2", "user3", "user4"]      # the least recently noted went first
    for sid in ("a", "b", "a", "c"):                                 # reloads: the most recent sessions are kept
        sessions(sid, "user4")
    assert list(presence._users["user4"].sessions) == ["a", "c"]


def test_the_reconnect_time_is_streamlits_setting():
    from streamlit import config

    old = config.get_option("server.disconnectedSessionTTL")
    try:
        config.set_option("server.disconnectedSessionTTL", 30)
        assert presence.kept_for_s() == 30.0
    finally:
        config.set_option("server.disconnectedSessionTTL", old)
