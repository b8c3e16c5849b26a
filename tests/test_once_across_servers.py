"""Process once across servers: two engines on one store (two `serve` processes in a rolling
deploy, or replicas behind a load balancer, each with its own connections and locks), and turns
that fail (issue 13, item 3). Each runs on a SQLite file and on PostgreSQL (issue 15)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading

import pytest
from stores import ENGINES

from dialogs.engine import Engine
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
    return one_value(db_path, "SELECT count(*) FROM decisions WHERE conversation_id = ?", [conv])


def one_value(target, sql, params=()):
    """One value read on a connection of its own (a file path or a PostgreSQL URL), then closed."""
    db = open_db(target)
    try:
        return db.execute(sql, list(params)).fetchone()[0]
    finally:
        db.close()


def verified(target):
    db = open_db(target)
    try:
        return audit.verify_chain(db).ok
    finally:
        db.close()


@pytest.fixture(params=ENGINES)
def shared_store(request, tmp_path):
    """What two servers share: a SQLite file, or a PostgreSQL database (its URL)."""
    return tmp_path / "shared.db" if request.param == "sqlite" else request.getfixturevalue("pg_database")


def test_a_double_clicked_confirm_on_two_servers_is_recorded_once(shared_store):
    db_path = shared_store
    first, second = Engine(open_db(db_path)), Engine(open_db(db_path))  # two servers, one store
    for round_ in range(8):
        conv = f"D-race-{round_}"
        token = to_summary(first, conv)
        click = Event("confirm", token=token)
        once = f"slack:click:confirm-{round_}"  # the same delivery key, as a double click gives
        start = threading.Barrier(2)
        results = []

        def click_on(engine, start=start, results=results, conv=conv, click=click, once=once):
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


# ---- two real `infoshare serve` processes on one database file ---------------------------------

class Remote:
    """A running server as :class:`slack_mock.SlackUser` expects its ``http`` (a TestClient)."""

    def __init__(self, session, port: int, proc):
        self.session, self.port, self.proc = session, port, proc

    async def post(self, path: str, **kw):
        resp = await self.session.post(f"http://127.0.0.1:{self.port}{path}", **kw)
        await resp.read()
        return resp


@pytest.fixture
async def two_servers(tmp_path, slack_api, shared_store):
    """Two ``infoshare serve`` subprocesses on one store (a SQLite file, or a PostgreSQL database
    as replicas behind a load balancer have), Slack pointed at the mock Web API."""
    import asyncio
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import aiohttp

    from slack_mock import BOT_TOKEN, SECRET
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET, INFOSHARE_SLACK_API_URL=slack_api.url,
               INFOSHARE_CONFIG="", PYTHONPATH=str(root))
    db_path = shared_store
    procs, ports, logs = [], [], []
    for n in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        logs.append(tmp_path / f"serve-{n}.log")  # what a server that exits said, for the failure message
        with logs[-1].open("w") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                           str(ports[-1]), "--db", str(db_path)], cwd=tmp_path, env=env,
                                          stdout=subprocess.DEVNULL, stderr=log))
    session = aiohttp.ClientSession()
    try:
        for proc, port, log in zip(procs, ports, logs):
            for _ in range(600):
                assert proc.poll() is None, f"serve exited with {proc.returncode}: {log.read_text()[-2000:]}"
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("serve did not start")
        yield [Remote(session, port, proc) for proc, port in zip(procs, ports)], db_path
    finally:
        await session.close()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def slack_to_summary(user, api, *others):
    """Walk hmg-2018 to the summary with Confirm (No, Yes, Yes, the record form); its message.
    With ``others`` (the same person on other servers), each step after the first goes to the
    next server in turn, as a load balancer may send it."""
    turn = iter(__import__("itertools").cycle((*others, user) if others else (user,)))
    n = len(api.calls)
    assert (await user.command("start hmg-2018")).status == 200
    msg = await api.next_call("chat.postMessage", after=n, where=lambda c: c.args.get("channel") == user.dm)
    on_it = lambda c: c.ts == msg.ts  # noqa: E731 - (not the other server's retiring of an older message)
    for label in ("No", "Yes", "Yes"):
        n = len(api.calls)
        await next(turn).click(msg, label)
        msg = await api.next_call("chat.update", after=n, where=on_it)
    n = len(api.calls)
    user = next(turn)
    trigger = f"trigger-{next(user._ids) + 1}"  # the id the click is about to carry (not another person's)
    await user.click(msg, "Record this decision")
    modal = (await api.next_call("views.open", after=n, where=lambda c: c.args.get("trigger_id") == trigger)
             ).args["view"]
    await api.next_call("chat.update", after=n, where=on_it)
    form = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    first = {k: b["element"]["options"][0]["value"] for k, b in form.items() if "options" in b["element"]}
    n = len(api.calls)
    await user.submit(modal, {**first, "categories": [first["categories"]], "informed": "yes",
                              "case_ref": "CASE-0007", "reason": "Made-up reason for a made-up case."})
    summary = await api.next_call("chat.update", after=n, where=on_it)
    assert summary.args["text"].startswith("Summary of the decision")
    return summary


def user_decisions(db_path, user):
    return one_value(db_path, "SELECT count(*) FROM decisions WHERE user_id = ?", [user])


@contextlib.contextmanager
def write_lock_held(target):
    """Another writer holds the store's write lock (SQLite's) or the chain's lock (PostgreSQL's)
    until the block ends: a turn that records waits inside the engine meanwhile."""
    if isinstance(target, str) and target.startswith("postgresql://"):
        import psycopg

        from storage.postgres import CHAIN_LOCK
        with psycopg.connect(target, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK])
            yield
        return
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


pytest_plugins = ["slack_mock"]


async def test_confirm_double_clicked_on_two_serve_processes_is_recorded_once(two_servers, slack_api):
    import asyncio

    from slack_mock import SlackUser
    (a, b), db_path = two_servers
    on_a = SlackUser(a, slack_api, user="U0TWOSRV1")
    on_b = SlackUser(b, slack_api, user="U0TWOSRV1", _ids=on_a._ids)  # one person: trigger ids never repeat
    for round_ in range(3):
        summary = await slack_to_summary(on_a if round_ % 2 == 0 else on_b, slack_api)
        n = len(slack_api.calls)
        acks = await asyncio.gather(on_a.click(summary, "Confirm and record"), on_b.click(summary, "Confirm and record"))
        assert [r.status for r in acks] == [200, 200]
        await slack_api.next_call("chat.update", after=n, where=lambda c: "recorded" in c.text.lower())
        await slack_api.settle(0.5)
        assert user_decisions(db_path, on_a.user) == round_ + 1, f"round {round_}"
        shown = [c for c in slack_api.calls[n:] if c.method == "chat.update" and c.ts == summary.ts]
        assert len(shown) == 1 and "recorded" in shown[0].text.lower()  # the user is told once
    assert verified(db_path)


async def test_a_serve_process_killed_mid_turn_loses_nothing_and_the_redelivery_is_processed_once(
        two_servers, slack_api):
    import asyncio
    import signal

    from slack_mock import SlackUser
    (a, b), db_path = two_servers
    on_a = SlackUser(a, slack_api, user="U0TWOSRV2")
    on_b = SlackUser(b, slack_api, user="U0TWOSRV2", _ids=on_a._ids)
    summary = await slack_to_summary(on_a, slack_api)
    n = len(slack_api.calls)
    await on_a.click(summary, "Confirm and record")  # a decision recorded before the crash
    await slack_api.next_call("chat.update", after=n, where=lambda c: "recorded" in c.text.lower())
    assert user_decisions(db_path, on_a.user) == 1

    summary = await slack_to_summary(on_a, slack_api)
    with write_lock_held(db_path):  # the turn will start and wait inside the engine for the lock
        n = len(slack_api.calls)
        assert (await on_a.click(summary, "Confirm and record")).status == 200  # acknowledged; the turn runs on
        await asyncio.sleep(0.5)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
    assert not [c for c in slack_api.calls[n:] if "recorded" in c.text.lower()]
    assert user_decisions(db_path, on_a.user) == 1  # the first decision is there; nothing of the killed turn
    assert verified(db_path)

    for delivery in range(2):  # Slack retries the click on the other server, twice
        n = len(slack_api.calls)
        assert (await on_b.click(summary, "Confirm and record")).status == 200
        if delivery == 0:
            await slack_api.next_call("chat.update", after=n, where=lambda c: "recorded" in c.text.lower())
        await slack_api.settle(0.5)
    assert user_decisions(db_path, on_a.user) == 2
    assert audit.verify_chain(open_db(db_path)).ok


async def test_a_walk_started_on_one_server_continues_on_the_other(two_servers, slack_api):
    from slack_mock import SlackUser
    (a, b), db_path = two_servers
    on_a = SlackUser(a, slack_api, user="U0TWOSRV3")
    on_b = SlackUser(b, slack_api, user="U0TWOSRV3", _ids=on_a._ids)
    summary = await slack_to_summary(on_a, slack_api, on_b)  # start on a; answers b, a, b; the form on a ...
    n = len(slack_api.calls)
    await on_b.click(summary, "Confirm and record")  # ... and the confirm on b
    done = await slack_api.next_call("chat.update", after=n, where=lambda c: "recorded" in c.text.lower())
    assert done.ts == summary.ts
    assert user_decisions(db_path, on_a.user) == 1
    assert one_value(db_path, "SELECT answers FROM decisions WHERE user_id = ?", [on_a.user]) == (
        '[["immediate_risk","no"],["purpose","yes"],["consent","yes"]]')
    assert verified(db_path)


async def test_people_recording_at_once_on_both_servers_lose_nothing(two_servers, slack_api):
    import asyncio
    import itertools

    from slack_mock import SlackUser
    (a, b), db_path = two_servers
    people = [SlackUser(server, slack_api, user=f"U0PAR{i:04d}", _ids=itertools.count(1 + 100_000 * i))
              for i, server in enumerate((a, b, a, b))]  # trigger ids unique across people, as Slack's are

    async def record(person):
        summary = await slack_to_summary(person, slack_api)
        n = len(slack_api.calls)
        await person.click(summary, "Confirm and record")
        await slack_api.next_call("chat.update", after=n,
                                  where=lambda c: c.ts == summary.ts and "recorded" in c.text.lower())

    for _ in range(2):
        await asyncio.gather(*(record(p) for p in people))
    assert [user_decisions(db_path, p.user) for p in people] == [2, 2, 2, 2]
    assert one_value(db_path, "SELECT count(DISTINCT ref) FROM decisions") == 8
    assert verified(db_path)


def test_a_scheduled_slot_is_taken_by_one_server_of_several(shared_store):
    from storage.conversations import claim_slot
    servers = [open_db(shared_store) for _ in range(3)]
    try:
        conversations.ensure_schema(servers[0])
        slot = "job:digest:2026-12-07T09:00:00+00:00"
        start, taken = threading.Barrier(3), []

        def claim(db):
            start.wait()
            taken.append(claim_slot(db, slot))

        threads = [threading.Thread(target=claim, args=(db,)) for db in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(taken) == [False, False, True]
        assert claim_slot(servers[0], "job:digest:2026-12-14T09:00:00+00:00")  # next week's is free
    finally:
        for db in servers:
            db.close()
