"""Process once across servers: two engines on one database file (two `serve` processes in a
rolling deploy, each with its own connection and locks), and turns that fail (issue 13, item 3)."""

from __future__ import annotations

import threading

import pytest

from dialogs.conversation import Engine
from dialogs.events import Event
from storage import audit, conversations
from storage.db import open_db


def to_summary(engine, conv):
    engine.handle("slack", conv, "U0TWO0001", Event("start", "hmg-2018"))
    for a in ("no", "yes", "yes"):
        engine.handle("slack", conv, "U0TWO0001", Event("answer", a))
    form = engine.handle("slack", conv, "U0TWO0001", Event("record"))
    valid = {f["id"]: [c["value"] for c in f.get("choices", [])] for f in form[0].form}
    values = {"categories": valid["categories"][:1], "recipient": valid["recipient"][0],
              "purpose": valid["purpose"][0], "lawful_basis": valid["lawful_basis"][0], "informed": "yes",
              "case_ref": "CASE-0007", "reason": "Made-up reason for a made-up case."}
    summary = engine.handle("slack", conv, "U0TWO0001", Event("record_submit", values=values))
    assert summary[-1].kind == "summary"
    return summary[-1].token


def decisions(db_path, conv):
    return open_db(db_path).execute("SELECT count(*) FROM decisions WHERE conversation_id = ?", [conv]).fetchone()[0]


def test_a_double_clicked_confirm_on_two_servers_is_recorded_once(tmp_path):
    db_path = tmp_path / "shared.db"
    first, second = Engine(open_db(db_path)), Engine(open_db(db_path))  # two servers, one file
    for round_ in range(8):
        conv = f"D-race-{round_}"
        token = to_summary(first, conv)
        click = Event("confirm", token=token)
        once = f"slack:click:confirm-{round_}"  # the same delivery key, as a double click gives
        start = threading.Barrier(2)
        results = []

        def click_on(engine):
            start.wait()
            results.append(engine.handle("slack", conv, "U0TWO0001", click, once=once))

        threads = [threading.Thread(target=click_on, args=(e,)) for e in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert decisions(db_path, conv) == 1, f"round {round_}"
        assert sorted(r is None for r in results) == [False, True]  # one processed it, one saw it done


def test_a_turn_that_fails_leaves_no_trace_and_its_redelivery_is_processed(tmp_path, monkeypatch):
    db_path = tmp_path / "fail.db"
    engine = Engine(open_db(db_path))
    token = to_summary(engine, "D-fail")
    real = conversations.save_state

    def crash(*a, **k):  # the server dies after the audit append, before the turn's end
        raise RuntimeError("made-up crash mid-turn")

    monkeypatch.setattr(conversations, "save_state", crash)
    with pytest.raises(RuntimeError):
        engine.handle("slack", "D-fail", "U0TWO0001", Event("confirm", token=token), once="slack:click:x")
    assert decisions(db_path, "D-fail") == 0  # the append was rolled back with the turn
    assert not conversations.was_seen(open_db(db_path), "slack:click:x")
    monkeypatch.setattr(conversations, "save_state", real)
    done = engine.handle("slack", "D-fail", "U0TWO0001", Event("confirm", token=token), once="slack:click:x")
    assert any(r.kind == "recorded" for r in done) and decisions(db_path, "D-fail") == 1
    assert engine.handle("slack", "D-fail", "U0TWO0001", Event("confirm", token=token), once="slack:click:x") is None
    assert audit.verify_chain(open_db(db_path)).ok


async def test_a_teams_activity_whose_turn_failed_is_processed_when_redelivered(tmp_path, monkeypatch):
    from teams_mock import TeamsHarness
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        activity = h.message("start")
        real, calls = h.engine.handle, []

        def fail_once(*a, **k):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("made-up crash in the turn")
            return real(*a, **k)

        monkeypatch.setattr(h.engine, "handle", fail_once)
        await h.post(activity)  # the turn fails: an apology, nothing marked as delivered
        sent_before = len(h.connector.calls)
        await h.post(activity)  # Teams redelivers the same activity
        assert len(calls) == 2 and len(h.connector.calls) > sent_before
        await h.post(activity)  # a third delivery, after a turn that worked: ignored
        assert len(calls) == 2


async def test_healthz_says_whether_the_answers_are_ready(tmp_path, monkeypatch):
    from teams_mock import TeamsHarness

    from content.loader import pack_ids
    from dialogs import answers
    monkeypatch.setattr(answers, "_MATCHERS", {})
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        async with h.session.get(h.server.make_url("/healthz")) as resp:
            assert resp.status == 200 and (await resp.json())["answers"] == "preparing"
        h.engine.warm_up(every_pack=True).join(timeout=300)
        async with h.session.get(h.server.make_url("/healthz")) as resp:
            assert resp.status == 200 and (await resp.json())["answers"] == "ready"
        assert set(answers._MATCHERS) == set(pack_ids())


def test_a_question_that_waits_for_a_fit_holds_no_write_lock_meanwhile(tmp_path, monkeypatch):
    """Content a deployment edited is fitted on the first question; another server on the same
    file must be able to write while that runs (it is done before the turn's transaction)."""
    import sqlite3

    from dialogs import answers
    db_path = tmp_path / "fit.db"
    engine = Engine(open_db(db_path))
    engine.handle("slack", "D-fit", "U0TWO0001", Event("start", "wirral"))
    other = sqlite3.connect(db_path, timeout=0.2, isolation_level=None)
    could_write = []
    real = answers.Matcher

    def fitting(tset, **k):
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            could_write.append(True)
        except sqlite3.OperationalError:
            could_write.append(False)
        return real(tset, **k)

    monkeypatch.setattr(answers, "_MATCHERS", {})
    monkeypatch.setattr(answers, "Matcher", fitting)
    replies = engine.handle("slack", "D-fit", "U0TWO0001", Event("text", "what's Clare's Law?"))
    assert could_write == [True]
    assert any(r.kind == "answer" for r in replies)
