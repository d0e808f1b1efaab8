"""Who is still here (explorer.presence): a user noted from their sessions' script runs is here while Streamlit
still knows one of those sessions; whatever cannot be known counts as here, so that no run is dropped on a
guess. The real server's side is tested in tests/test_lecture_queue.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from explorer import presence


@pytest.fixture
def sessions(monkeypatch):
    """A fresh book of sessions, and a way to run a 'script' as a given session."""
    monkeypatch.setattr(presence, "_sessions", type(presence._sessions)())
    current = {}
    monkeypatch.setattr(presence, "get_script_run_ctx",
                        lambda suppress_warning=False: SimpleNamespace(session_id=current["id"]) if current else None)

    def run_as(session_id: str | None, user: str) -> None:
        current.clear()
        if session_id is not None:
            current["id"] = session_id
        presence.note(user)

    return run_as


def test_a_user_is_here_while_one_of_their_sessions_is_known(sessions):
    sessions("s1", "ann")
    sessions("s2", "ann")                                   # a second tab with the same link
    known = {"s1", "s2"}
    lookup = lambda sid: {"id": sid} if sid in known else None  # noqa: E731
    assert presence.here("ann", lookup)
    known.discard("s1")
    assert presence.here("ann", lookup)                     # one tab still open
    known.clear()
    assert not presence.here("ann", lookup)                 # both gone (past the reconnect time)
    assert not presence.here("ann", lookup)                 # and stays gone
    assert presence._sessions["ann"] == set()               # the dead sessions are forgotten, the user is not
    sessions("s3", "ann")                                   # back with the link: a new session
    known.add("s3")
    assert presence.here("ann", lookup)


def test_what_cannot_be_known_counts_as_here(sessions):
    nobody = lambda sid: None  # noqa: E731
    assert presence.here("never-seen", nobody)              # not noted by this server: no guess
    sessions(None, "cli")                                   # outside a script run: nothing is noted
    assert presence.here("cli", nobody)
    sessions("s1", "bob")
    assert presence.here("bob")                             # no Streamlit server in this process
    assert not presence.here("bob", nobody)

    def broken(sid):
        raise RuntimeError("a Streamlit that changed")

    sessions("s2", "bob")
    assert presence.here("bob", broken)


def test_the_book_of_users_is_bounded(sessions, monkeypatch):
    monkeypatch.setattr(presence, "MAX_USERS", 3)
    for i in range(5):
        sessions(f"s{i}", f"user{i}")
    assert list(presence._sessions) == ["user2", "user3", "user4"]   # the least recently noted went first


def test_the_reconnect_time_is_streamlits_setting():
    assert presence.kept_for_s() == 120.0                  # Streamlit's default server.disconnectedSessionTTL
