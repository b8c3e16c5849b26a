"""Unanswered questions are stored redacted with UTC times; topic counts hold no text."""

from datetime import datetime, timedelta, timezone

import pytest

from stores import both_engines, columns, dump
from storage.db import open_db
from storage.gaps import list_unanswered, record_asked, record_unanswered, topic_counts

db = both_engines()  # every test here runs on SQLite and on PostgreSQL

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)


def test_stores_redacted_text_only(db):
    question = "Jamie Smith (NHS 943 476 5919, DOB 03/04/2016) lives at CH41 5AB, mum 07700 900123"
    row = record_unanswered(db, pack_id="wirral", question=question, channel="slack",
                            best_topic="share-securely", score=0.2, now=T0)
    assert row["question"] == ("[name] (NHS [NHS number], DOB [date of birth]) lives at [postcode], "
                               "mum [phone]")
    assert row["removed"] == {"name": 1, "nhs_number": 1, "date_of_birth": 1, "postcode": 1, "phone": 1}
    assert row["name_warning"] is True
    stored = dump(db)
    for secret in ("Jamie", "Smith", "943 476 5919", "03/04/2016", "CH41", "07700"):
        assert secret not in stored
    assert [r["question"] for r in list_unanswered(db, T0, T0 + timedelta(seconds=1))] == [row["question"]]


def test_times_are_utc_and_ranges_filter(db):
    bst = timezone(timedelta(hours=1))
    record_unanswered(db, pack_id="hmg-2018", question="first", channel="console",
                      best_topic=None, score=0.0, now=datetime(2026, 6, 1, 10, 0, tzinfo=bst))
    record_unanswered(db, pack_id="hmg-2018", question="second", channel="teams",
                      best_topic="dvds", score=0.4, now=datetime(2026, 6, 2, 10, 0))
    rows = list_unanswered(db, "2026-06-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00")
    assert [(r["question"], r["asked_at"]) for r in rows] == [
        ("first", "2026-06-01T09:00:00+00:00"), ("second", "2026-06-02T10:00:00+00:00")]
    assert rows[1]["best_topic"] == "dvds" and rows[1]["score"] == pytest.approx(0.4)
    assert [r["question"] for r in list_unanswered(db, datetime(2026, 6, 2), datetime(2026, 6, 3))] == ["second"]
    assert list_unanswered(db, datetime(2026, 5, 1), datetime(2026, 6, 1)) == []


def test_record_asked_counts_per_day_without_text(db):
    assert record_asked(db, pack_id="hmg-2018", topic="dvds", channel="slack", now=T0) == 1
    assert record_asked(db, pack_id="hmg-2018", topic="dvds", channel="slack", now=T0) == 2
    record_asked(db, pack_id="hmg-2018", topic="dvds", channel="teams", now=T0)
    record_asked(db, pack_id="wales", topic="section-130-wales", channel="slack", now=T0 + timedelta(days=1))
    assert topic_counts(db, T0, T0) == [{"pack_id": "hmg-2018", "topic": "dvds", "count": 3}]
    assert topic_counts(db, T0, T0 + timedelta(days=1)) == [
        {"pack_id": "hmg-2018", "topic": "dvds", "count": 3},
        {"pack_id": "wales", "topic": "section-130-wales", "count": 1}]
    assert "question" not in columns(db, "topic_counts")


def test_tables_survive_reopening(tmp_path):
    path = tmp_path / "again.db"
    record_unanswered(open_db(path), pack_id="hmg-2018", question="q1", channel="console",
                      best_topic=None, score=None, now=T0)
    db = open_db(path)
    record_unanswered(db, pack_id="hmg-2018", question="q2", channel="console",
                      best_topic=None, score=None, now=T0)
    assert [r["question"] for r in list_unanswered(db, T0, T0 + timedelta(hours=1))] == ["q1", "q2"]


def test_old_unanswered_questions_are_deleted_and_counts_kept(db):
    from storage.gaps import purge_unanswered
    record_unanswered(db, pack_id="hmg-2018", question="an old question", channel="slack",
                      best_topic=None, score=0.1, now=T0 - timedelta(days=120))
    record_unanswered(db, pack_id="hmg-2018", question="a recent question", channel="slack",
                      best_topic=None, score=0.1, now=T0 - timedelta(days=10))
    record_asked(db, pack_id="hmg-2018", topic="golden-rules", channel="slack", now=T0 - timedelta(days=120))
    assert purge_unanswered(db, 90, now=T0, dry_run=True) == 1
    assert len(list_unanswered(db, T0 - timedelta(days=400), T0)) == 2  # a dry run changes nothing
    assert purge_unanswered(db, 90, now=T0) == 1
    assert [r["question"] for r in list_unanswered(db, T0 - timedelta(days=400), T0)] == ["a recent question"]
    assert topic_counts(db, T0 - timedelta(days=400), T0) == [{"pack_id": "hmg-2018", "topic": "golden-rules", "count": 1}]
    with pytest.raises(ValueError, match="at least 1"):
        purge_unanswered(db, 0, now=T0)


def test_housekeeping_deletes_old_delivery_keys_and_old_questions_only(db):
    from bot.config import Config
    from bot.jobs.housekeeping import tidy
    from storage import conversations
    conversations.ensure_schema(db)
    conversations.seen_event(db, "slack:event:recent")
    db.execute("insert into processed_events (key, seen_at) values ('slack:event:old', '2020-01-01T00:00:00+00:00')")
    record_unanswered(db, pack_id="hmg-2018", question="old", channel="teams", best_topic=None, score=0.0,
                      now=datetime.now(timezone.utc) - timedelta(days=40))
    record_unanswered(db, pack_id="hmg-2018", question="new", channel="teams", best_topic=None, score=0.0)
    assert tidy(db, Config(unanswered_days=30)) == {"delivery_keys": 1, "unanswered": 1}
    assert conversations.was_seen(db, "slack:event:recent") and not conversations.was_seen(db, "slack:event:old")
    assert [r["question"] for r in list_unanswered(db, "2000-01-01", datetime.now(timezone.utc) + timedelta(1))] == ["new"]
    assert tidy(db, Config(unanswered_days=30)) == {"delivery_keys": 0, "unanswered": 0}
