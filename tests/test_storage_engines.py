"""Conversation state, delivery keys, references and live cards: the same storage functions on
SQLite and on PostgreSQL (issue 15), with the same results. (Group commits: test_group_commit.py.)"""

from __future__ import annotations

import threading

import pytest
from stores import both_engines

from dialogs.engine import Engine
from dialogs.events import Event
from storage import conversations, references
from storage.db import db_lock, transaction

db = both_engines()


def test_state_saves_compare_and_swap(db):
    conversations.ensure_schema(db)
    assert conversations.load_state(db, "slack:D1:U1") == (None, 0)
    assert conversations.save_state(db, "slack:D1:U1", {"phase": "walk"}, expected_version=0) == 1
    assert conversations.save_state(db, "slack:D1:U1", {"phase": "outcome"}, expected_version=1) == 2
    for stale in (0, 1):  # another turn saved first
        with pytest.raises(conversations.ConcurrentUpdate):
            conversations.save_state(db, "slack:D1:U1", {"phase": "idle"}, expected_version=stale)
    assert conversations.load_state(db, "slack:D1:U1") == ({"phase": "outcome"}, 2)


def test_a_delivery_key_claimed_in_a_turn_that_fails_is_not_kept(db):
    conversations.ensure_schema(db)
    with pytest.raises(RuntimeError):
        with db_lock(db), transaction(db):
            assert conversations.claim_event(db, "slack:click:k1")
            conversations.save_state(db, "c", {"phase": "walk"}, expected_version=0)
            raise RuntimeError("made-up crash mid-turn")
    assert not conversations.was_seen(db, "slack:click:k1")
    assert conversations.load_state(db, "c") == (None, 0)
    with db_lock(db), transaction(db):
        assert conversations.claim_event(db, "slack:click:k1")
    with db_lock(db), transaction(db):
        assert not conversations.claim_event(db, "slack:click:k1")
    assert conversations.seen_event(db, "slack:click:k1") is True


def test_references_and_live_cards_are_replaced_not_duplicated(db):
    references.ensure_schema(db)
    references.save_reference(db, "teams", ["a:1", "AAD-1", ""], {"serviceUrl": "https://smba.example/", "n": 1})
    references.save_reference(db, "teams", ["AAD-1"], {"serviceUrl": "https://smba.example/", "n": 2})
    assert references.get_reference(db, "teams", "a:1")["n"] == 1
    assert references.get_reference(db, "teams", "AAD-1")["n"] == 2
    with pytest.raises(references.UnknownReference):
        references.get_reference(db, "slack", "AAD-1")
    references.save_card(db, "teams", "a:1", "act-1", "question")
    references.save_card(db, "teams", "a:1", "act-2", "outcome")
    assert references.get_card(db, "teams", "a:1") == ("act-2", "outcome")
    references.forget_card(db, "teams", "a:1")
    assert references.get_card(db, "teams", "a:1") is None


def test_threads_saving_different_conversations_at_once_lose_nothing(db):
    engine = Engine(db)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def walk(i: int) -> None:
        try:
            start.wait()
            engine.handle("slack", f"D{i}", f"U{i}", Event("start", "hmg-2018"))
            for answer in ("no", "yes"):
                engine.handle("slack", f"D{i}", f"U{i}", Event("answer", answer))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=walk, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = db.execute("SELECT version FROM conversations ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [3, 3, 3, 3]
