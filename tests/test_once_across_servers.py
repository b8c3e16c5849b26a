"""Process once across servers: two engines on one database file (two `serve` processes in a
rolling deploy, each with its own connection and locks), and turns that fail (issue 13, item 3)."""

from __future__ import annotations

import threading

import pytest

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
async def two_servers(tmp_path, slack_api):
    """Two ``infoshare serve`` subprocesses on one SQLite file, Slack pointed at the mock Web API."""
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
    db_path = tmp_path / "shared.db"
    procs, ports = [], []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        procs.append(subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                       str(ports[-1]), "--db", str(db_path)], cwd=tmp_path, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    session = aiohttp.ClientSession()
    try:
        for proc, port in zip(procs, ports):
            for _ in range(600):
                assert proc.poll() is None, f"serve exited with {proc.returncode}"
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


async def slack_to_summary(user, api):
    """Walk hmg-2018 to the summary with Confirm (No, Yes, Yes, the record form); its message."""
    n = len(api.calls)
    assert (await user.command("start hmg-2018")).status == 200
    msg = await api.next_call("chat.postMessage", after=n, where=lambda c: c.args.get("channel") == user.dm)
    on_it = lambda c: c.ts == msg.ts  # noqa: E731 - (not the other server's retiring of an older message)
    for label in ("No", "Yes", "Yes"):
        n = len(api.calls)
        await user.click(msg, label)
        msg = await api.next_call("chat.update", after=n, where=on_it)
    n = len(api.calls)
    await user.click(msg, "Record this decision")
    modal = (await api.next_call("views.open", after=n)).args["view"]
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
    return open_db(db_path).execute("SELECT count(*) FROM decisions WHERE user_id = ?", [user]).fetchone()[0]


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
    assert audit.verify_chain(open_db(db_path)).ok


async def test_a_serve_process_killed_mid_turn_loses_nothing_and_the_redelivery_is_processed_once(
        two_servers, slack_api):
    import asyncio
    import signal
    import sqlite3

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
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the turn will start and wait inside the engine for the write lock
    try:
        n = len(slack_api.calls)
        assert (await on_a.click(summary, "Confirm and record")).status == 200  # acknowledged; the turn runs on
        await asyncio.sleep(0.5)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not [c for c in slack_api.calls[n:] if "recorded" in c.text.lower()]
    assert user_decisions(db_path, on_a.user) == 1  # the first decision is there; nothing of the killed turn
    assert audit.verify_chain(open_db(db_path)).ok

    for delivery in range(2):  # Slack retries the click on the other server, twice
        n = len(slack_api.calls)
        assert (await on_b.click(summary, "Confirm and record")).status == 200
        if delivery == 0:
            await slack_api.next_call("chat.update", after=n, where=lambda c: "recorded" in c.text.lower())
        await slack_api.settle(0.5)
    assert user_decisions(db_path, on_a.user) == 2
    assert audit.verify_chain(open_db(db_path)).ok
