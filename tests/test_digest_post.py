"""The weekly digest posted by the server: to Slack channels and leads' DMs (with the chart), and
to Teams by proactive message; one failing target does not stop the others; the schedule starts
and stops with the server."""

from __future__ import annotations

import asyncio

from bot.config import Config
from bot.jobs.digest_post import WeeklyDigest, post_digest, targets
from bot.server import Channels
from dialogs.events import Event
from slack_mock import dm_of
from teams_mock import PERSONAL, USER, TeamsHarness, card_of, card_text
from test_teams import assert_digest_card

pytest_plugins = ["slack_mock"]


def record_one(engine, user="U0000A11", channel="slack"):
    engine.handle(channel, "D-test", user, Event("start", "hmg-2018"))
    engine.handle(channel, "D-test", user, Event("answer", "unsure"))
    engine.handle(channel, "D-test", user, Event("leave"))
    engine.handle(channel, "D-test", user, Event("text", "Talked to my manager first."))


def test_targets_are_the_configured_places_then_the_leads():
    config = Config(leads={"slack": ["ULEAD1", "C0DIGEST"]}, digest_slack_channels=["C0DIGEST"])
    assert targets(config, "slack") == ["C0DIGEST", "ULEAD1"]
    config.digest_lead_dms = False
    assert targets(config, "slack") == ["C0DIGEST"]


async def test_slack_gets_the_digest_text_and_the_chart(slack_server, slack_engine, slack_api):
    record_one(slack_engine)
    config = Config(leads={"slack": ["ULEAD001"]}, digest_slack_channels=["C0LEADS01"])
    sent = await post_digest(slack_engine, config, Channels(slack=slack_server.channel))
    assert sent == {"slack": 2, "teams": 0, "unreached": []}
    posts = slack_api.of("chat.postMessage")
    assert [p.args["channel"] for p in posts][-2:] == ["C0LEADS01", dm_of("ULEAD001")]
    for p in posts[-2:]:
        assert "chain head" in p.args["text"].lower()
        assert "talked to my manager first" in p.args["text"].lower()  # the reason for not recording
        assert p.args["blocks"][0]["type"] == "markdown"
    uploads = slack_api.of("upload")
    assert len(uploads) == 2 and all(u.args["png"] and u.args["size"] > 100 for u in uploads)
    assert len(slack_api.of("files.completeUploadExternal")) == 2


async def test_one_failing_slack_target_does_not_stop_the_others(slack_server, slack_engine, slack_api):
    slack_api.fail["conversations.open"] = "user_not_found"
    config = Config(leads={"slack": ["UGONE0001"]}, digest_slack_channels=["C0LEADS01"])
    sent = await post_digest(slack_engine, config, Channels(slack=slack_server.channel))
    assert sent["slack"] == 1
    assert [p.args["channel"] for p in slack_api.of("chat.postMessage")] == ["C0LEADS01"]


async def test_teams_leads_get_the_digest_by_proactive_message(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch, leads=[USER["aadObjectId"]]) as h:
        await h.post(h.message("help"))  # the lead has talked to the bot, so a reference is stored
        record_one(h.engine, user=USER["aadObjectId"], channel="teams")
        sent = await post_digest(h.engine, h.config, h.channels)
        assert sent == {"slack": 0, "teams": 1, "unreached": []}
        card = card_of(h.connector.of("send", PERSONAL)[-1]["body"])
        assert "chain head" in card_text(card).lower()
        assert "Talked to my manager first." in card_text(card)  # the reason for not recording
        assert_digest_card(card)


async def test_the_schedule_starts_with_the_server_and_stops_with_it(slack_server, slack_engine):
    config = Config(digest_slack_channels=["C0LEADS01"])
    weekly = WeeklyDigest(slack_engine, config, Channels(slack=slack_server.channel))
    await weekly.on_startup(None)
    assert weekly.task is not None and not weekly.task.done()
    await weekly.on_cleanup(None)
    assert weekly.task.cancelled()


async def test_no_targets_means_no_schedule(slack_server, slack_engine):
    weekly = WeeklyDigest(slack_engine, Config(digest_lead_dms=False), Channels(slack=slack_server.channel))
    await weekly.on_startup(None)
    assert weekly.task is None
    await asyncio.sleep(0)


HOSTILE = ("<!channel> look *here* [prize](https://phish.example) <https://x.example|click> & "
           "\x1b[31mred\u202e" + "z" * 5000)


def leave_with_reason(engine, reason, user="U0000A11", channel="slack"):
    engine.handle(channel, "D-hostile", user, Event("start", "hmg-2018"))
    engine.handle(channel, "D-hostile", user, Event("answer", "unsure"))
    engine.handle(channel, "D-hostile", user, Event("leave"))
    engine.handle(channel, "D-hostile", user, Event("text", reason))


def assert_defused(text):
    for raw in ("<!channel>", "<https://", "[prize](", "*here*", "\x1b", "\u202e", "z" * 400):
        assert raw not in text, raw
    assert "&lt;!channel&gt;" in text and "&amp;" in text and "\\[prize\\]" in text


async def test_user_text_in_the_slack_digest_mentions_no_one_and_links_nowhere(slack_server, slack_engine, slack_api):
    leave_with_reason(slack_engine, HOSTILE[:480])
    slack_engine.handle("slack", "D-q", "U0000A12", Event("text", "<!everyone> what about [this](https://phish.example)?"))
    config = Config(digest_slack_channels=["C0LEADS01"], digest_lead_dms=False)
    assert (await post_digest(slack_engine, config, Channels(slack=slack_server.channel)))["slack"] == 1
    [post] = slack_api.of("chat.postMessage")[-1:]
    for text in (post.args["text"], post.args["blocks"][0]["text"]):
        assert_defused(text)
        assert "<!everyone>" not in text and "&lt;!everyone&gt;" in text


async def test_user_text_in_the_teams_digest_is_escaped(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch, leads=[USER["aadObjectId"]]) as h:
        await h.post(h.message("help"))
        leave_with_reason(h.engine, HOSTILE[:480], user=USER["aadObjectId"], channel="teams")
        assert (await post_digest(h.engine, h.config, h.channels))["teams"] == 1
        assert_defused(card_text(card_of(h.connector.of("send", PERSONAL)[-1]["body"])))


def test_the_csv_digest_has_no_control_characters_long_cells_or_formulas(tmp_path):
    from storage.db import open_db
    from storage.digest import USER_TEXT_MAX, build_digest, render_csv
    from dialogs.engine import Engine
    engine = Engine(open_db(str(tmp_path / "d.db")))
    leave_with_reason(engine, "=HYPERLINK(\"https://x.example\",\"open\") \x07" + "y" * 450, channel="console")
    csv_text = render_csv(build_digest(engine.db))
    row = next(line for line in csv_text.splitlines() if line.startswith("left_without_recording_reason"))
    assert "'=HYPERLINK" in row and "\x07" not in row and len(row) < USER_TEXT_MAX + 60


def test_the_scheduled_digest_verifies_the_chain_outside_the_database_lock(tmp_path, monkeypatch):
    import threading

    from bot.jobs import digest_post
    from dialogs.engine import Engine
    from storage import audit
    from storage.db import db_lock, open_db
    engine = Engine(open_db(str(tmp_path / "d.db")))
    leave_with_reason(engine, "made-up reason", channel="console")
    free_during_verify = []
    real = audit.verify_chain

    def watched(db, *a, **k):
        got = []

        def try_lock():
            lock = db_lock(engine.db)
            got.append(lock.acquire(timeout=2))
            if got[-1]:
                lock.release()

        t = threading.Thread(target=try_lock)
        t.start()
        t.join()
        free_during_verify.append(got[0])
        return real(db, *a, **k)

    monkeypatch.setattr(audit, "verify_chain", watched)
    text, _, _ = digest_post._build(engine)
    assert free_during_verify == [True]  # another turn could run meanwhile
    assert "Record verified: yes" in text
    assert engine.db.execute("SELECT count(*) FROM audit_checks").fetchone()[0] == 1  # the check is logged


def test_digests_use_the_configured_stale_after_days(tmp_path):
    from bot.jobs import digest_post
    from dialogs.engine import Engine
    from storage.db import open_db
    lead = Engine(open_db(str(tmp_path / "s.db")), is_lead=lambda channel, user: True, digest_stale_after_days=1)
    [chat] = lead.handle("console", "c", "lead1", Event("digest"))
    due = chat.text.split("## Packs due for review", 1)[1].split("##", 1)[0]
    assert "wirral" in due and "bromley" in due  # reviewed more than a day ago
    text, _, _ = digest_post._build(lead)
    assert "wirral" in text.split("## Packs due for review", 1)[1].split("##", 1)[0]
    fresh = Engine(open_db(str(tmp_path / "s.db")), is_lead=lambda channel, user: True)  # the default, 365 days
    [chat] = fresh.handle("console", "c", "lead1", Event("digest"))
    due = chat.text.split("## Packs due for review", 1)[1].split("##", 1)[0]
    assert "wirral" not in due and "bromley" not in due


async def post_now(tmp_path, config: str) -> tuple[int, str, str]:
    """``infoshare digest --post`` in a process of its own, with ``config`` as infoshare.toml:
    (exit code, stdout, stderr)."""
    import os
    import sys

    from storage import audit
    from storage.db import open_db
    db_path = tmp_path / "p.db"
    audit.ensure_schema(open_db(db_path))
    cfg = tmp_path / "infoshare.toml"
    cfg.write_text(config)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli import main; main()", "digest", "--post", "--db", str(db_path),
        "--config", str(cfg), env={**os.environ, "HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_digest_post_sends_it_now_and_says_where(slack_env, slack_api, tmp_path):
    code, out, err = await post_now(tmp_path, '[leads]\nslack = ["ULEAD001"]\n[digest]\nslack_channels = ["C0LEADS01"]\n')
    assert code == 0, err[-800:]
    assert "slack: posted to 2 of 2 target(s)" in out
    assert [p.args["channel"] for p in slack_api.of("chat.postMessage")] == ["C0LEADS01", dm_of("ULEAD001")]


async def test_digest_post_with_nowhere_to_post_says_so(slack_env, tmp_path):
    import os
    import sys

    from storage import audit
    from storage.db import open_db
    db_path = tmp_path / "p.db"
    audit.ensure_schema(open_db(db_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli import main; main()", "digest", "--post", "--db", str(db_path),
        env={**os.environ, "HOME": str(tmp_path), "INFOSHARE_CONFIG": ""}, cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2 and "nowhere to post" in err.decode()
