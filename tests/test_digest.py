"""The leads' digest: counts, comparison, attention list, reasons, gaps, stale packs, integrity, forms."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from datetime import date, datetime, timedelta, timezone

import pytest

from bot.config import Config
from storage import audit, digest
from storage.digest import chart


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


# Week 2026-W47 is Mon 16 Nov to Sun 22 Nov 2026 (GMT); W46 is 9 to 15 Nov.
MON = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)  # a Wednesday in W48


def row(outcome="share", pack="hmg-2018", channel="slack", kind="decision", reason="Consent given", user="U0LEAD0001"):
    return {"user_id": user, "channel": channel, "conversation_id": "c1", "pack_id": pack, "pack_version": "1.0.0",
            "answers": [["immediate_risk", "no"]], "outcome": outcome, "kind": kind,
            "record": {"reason": reason, "case_ref": "CR-1"}}


@pytest.fixture
def packs(tmp_path):
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "fresh.yaml").write_text('id: fresh\ntitle: x\nreviewed: "2026-06-01"  # checked\nflow: {}\n')
    (folder / "old.yaml").write_text("# an old pack\nid: old\nreviewed: '2025-01-10'\nflow:\n  reviewed: not-top-level\n")
    (folder / "child.yaml").write_text("id: child\nextends: old\n")
    (folder / "undated.yaml").write_text("id: undated\ntitle: no date\n")
    return folder


def add(db, when, **kw):
    return audit.append_decision(db, row(**kw), now=when)


@pytest.fixture
def week(db):
    """A made-up week W47 and a smaller previous week W46."""
    add(db, MON, outcome="share")
    add(db, MON + timedelta(hours=1), outcome="share", channel="teams")
    add(db, MON + timedelta(days=1), outcome="do_not_share", reason="No lawful basis")
    add(db, MON + timedelta(days=1, hours=2), outcome="do_not_share", reason=" No lawful basis ")
    add(db, MON + timedelta(days=2), outcome="do_not_share", reason="Not necessary", pack="wirral")
    urgent = add(db, MON + timedelta(days=3), outcome="urgent_action", pack="wirral")
    advice = add(db, MON + timedelta(days=4), outcome="seek_advice", channel="console")
    add(db, MON + timedelta(days=4, hours=1), kind="left_without_recording", outcome="share", reason="Phone call came in")
    add(db, MON + timedelta(days=6, hours=14, minutes=30), outcome="share")  # Sun 23:30 GMT: still W47
    add(db, MON + timedelta(days=7), outcome="share")  # Mon 00:00+9h: W48
    add(db, MON - timedelta(days=3), outcome="share")  # W46
    add(db, MON - timedelta(days=2), outcome="seek_advice")  # W46
    return {"urgent": urgent, "advice": advice}


def test_counts_by_outcome_pack_channel_and_previous_week(db, week, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert (d["week"], d["since"], d["until"]) == ("2026-W47", "2026-11-16", "2026-11-22")
    assert d["total"] == 8
    assert d["by_outcome"] == {"share": 3, "do_not_share": 3, "seek_advice": 1, "urgent_action": 1}
    assert d["by_pack"] == {"hmg-2018": 6, "wirral": 2}
    assert d["by_channel"] == {"slack": 6, "teams": 1, "console": 1}
    assert d["previous"]["total"] == 2 and d["previous"]["by_outcome"]["seek_advice"] == 1
    assert d["change"] == 6
    assert [x["total"] for x in d["by_day"]] == [2, 2, 1, 1, 1, 0, 1]
    assert d["by_day"][6]["date"] == "2026-11-22"


def test_seek_advice_and_urgent_are_listed(db, week, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["attention"]["urgent_action"] == 1 and d["attention"]["seek_advice"] == 1
    assert [a["ref"] for a in d["attention"]["latest"]] == [week["urgent"]["ref"], week["advice"]["ref"]]


def test_reasons_for_not_sharing_and_for_leaving(db, week, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["do_not_share_reasons"] == [{"reason": "No lawful basis", "count": 2},
                                         {"reason": "Not necessary", "count": 1}]
    assert d["left_without_recording"] == {"count": 1, "reasons": [{"reason": "Phone call came in", "count": 1}]}


def test_the_week_follows_london_time_across_bst(db, packs):
    # 23:30 UTC on Sunday 14 June 2026 is 00:30 BST on Monday 15 June: week 25, not 24
    add(db, datetime(2026, 6, 14, 23, 30, tzinfo=timezone.utc))
    assert digest.build_digest(db, week="2026-W24", packs_dir=packs)["total"] == 0
    d = digest.build_digest(db, week="2026-W25", packs_dir=packs)
    assert d["total"] == 1 and d["by_day"][0]["share"] == 1


def test_default_is_the_current_london_week(db, packs):
    d = digest.build_digest(db, now=datetime(2026, 11, 22, 23, 59, tzinfo=timezone.utc), packs_dir=packs)
    assert d["week"] == "2026-W47"
    d = digest.build_digest(db, now=datetime(2026, 3, 29, 23, 30, tzinfo=timezone.utc), packs_dir=packs)
    assert d["week"] == "2026-W14"  # 00:30 BST on Monday 30 March


def test_a_date_range_and_its_previous_period(db, week, packs):
    d = digest.build_digest(db, since="2026-11-17", until="2026-11-18", now=NOW, packs_dir=packs)
    assert d["week"] is None and d["total"] == 3
    assert (d["previous"]["since"], d["previous"]["until"], d["previous"]["total"]) == ("2026-11-15", "2026-11-16", 2)
    d = digest.build_digest(db, since=date(2026, 11, 23), now=NOW, packs_dir=packs)
    assert d["until"] == "2026-11-25" and d["total"] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"week": "2026-W99"}, "no week 99"),
    ({"week": "2026-47"}, "2026-W47"),
    ({"week": "2026-W47", "since": "2026-11-01"}, "not both"),
    ({"until": "2026-11-01"}, "needs --since"),
    ({"since": "2026-11-10", "until": "2026-11-01"}, "before"),
    ({"since": "yesterday"}, "date like"),
])
def test_bad_periods_are_refused(db, kwargs, message):
    with pytest.raises(digest.DigestError, match=message):
        digest.build_digest(db, now=NOW, **kwargs)


def test_topics_and_unanswered_questions_from_storage_gaps(db, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["top_topics"] == [] and d["unanswered"] == []  # no gap tables yet
    from storage import gaps
    for when, topic in [(utc(2026, 11, 16, 0, 0), "consent"), (utc(2026, 11, 17, 10), "consent"),
                        (utc(2026, 11, 18, 10), "gdpr-myths"), (utc(2026, 11, 10, 10), "gdpr-myths")]:
        gaps.record_asked(db, pack_id="hmg-2018", topic=topic, channel="slack", now=when)
    for when, question in [(utc(2026, 11, 16, 0, 0), "can I tell the dentist?"),
                           (utc(2026, 11, 20, 10), "can I tell the dentist?"),
                           (utc(2026, 11, 22, 12), "what about the ice rink?"),
                           (utc(2026, 11, 23, 0, 0), "next week's question")]:
        gaps.record_unanswered(db, pack_id="hmg-2018", question=question, channel="teams",
                               best_topic="consent", score=0.2, now=when)
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["top_topics"] == [{"topic": "consent", "packs": ["hmg-2018"], "count": 2, "title": "consent"},
                               {"topic": "gdpr-myths", "packs": ["hmg-2018"], "count": 1, "title": "gdpr-myths"}]
    assert [(u["question"], u["count"], u["best_topic"]) for u in d["unanswered"]] == \
        [("can I tell the dentist?", 2, "consent"), ("what about the ice rink?", 1, "consent")]
    text = digest.render_markdown(d)
    assert "- consent (hmg-2018): 2" in text
    assert '- "can I tell the dentist?" (2x in hmg-2018; nearest topic: consent)' in text


def test_the_same_question_in_several_packs_is_one_line_and_topics_read_by_title(db, packs):
    from storage import gaps
    for pack, topic in (("hmg-2018", "myths"), ("wirral", "myths"), ("wirral", "myths"), ("bromley", "dvds")):
        gaps.record_asked(db, pack_id=pack, topic=topic, channel="slack", now=utc(2026, 11, 17, 10))
    for pack, score in (("wirral", 0.3), ("bromley", 0.1), ("wirral", 0.2)):
        gaps.record_unanswered(db, pack_id=pack, question="can I tell the dentist?", channel="teams",
                               best_topic="myths" if score == 0.3 else "dvds", score=score, now=utc(2026, 11, 18, 10))
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    [asked] = d["unanswered"]
    assert (asked["packs"], asked["count"], asked["best_topic"]) == (["bromley", "wirral"], 3, "myths")
    text = digest.render_markdown(d)
    assert text.count("can I tell the dentist?") == 1
    assert ('- "can I tell the dentist?" (3x in bromley, wirral; nearest topic: '
            'The five common myths about information sharing)') in text
    assert "- The five common myths about information sharing (hmg-2018, wirral): 3" in text
    assert "- Domestic Violence Disclosure Scheme (Clare's Law) (bromley): 1" in text
    assert "dvds" not in text


def test_an_asked_topics_table_is_read_too(db, packs):
    db.conn.execute("CREATE TABLE asked_topics (asked_at TEXT, pack_id TEXT, topic TEXT, channel TEXT)")
    for at in ["2026-11-16T00:00:00Z", "2026-11-17T10:00:00Z", "2026-11-23T00:00:00Z"]:
        db.conn.execute("INSERT INTO asked_topics VALUES (?, 'wirral', 'front-door', 'slack')", [at])
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["top_topics"] == [{"topic": "front-door", "packs": ["wirral"], "count": 2, "title": "front-door"}]


def test_packs_reviewed_over_a_year_ago(db, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["stale_packs"] == [
        {"pack_id": "child", "reviewed": "2025-01-10", "days_ago": 684, "superseded": None},
        {"pack_id": "old", "reviewed": "2025-01-10", "days_ago": 684, "superseded": None},
        {"pack_id": "undated", "reviewed": None, "days_ago": None, "superseded": None},
    ]
    assert [p["pack_id"] for p in digest.stale_packs(packs, date(2026, 11, 25), after_days=10_000)] == ["undated"]


def test_the_shipped_packs_are_readable():
    found = digest.stale_packs(today=date(2100, 1, 1))
    assert found and all(p["reviewed"] for p in found)


def test_chain_head_and_verification(db, week, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["chain_head"] == audit.chain_head(db) and d["verified"] is True
    assert d["verification"]["rows"] == 12
    quick = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs, verify=False)
    assert quick["verified"] is None and quick["verification"]["ok"] is True  # the last logged check
    for name in audit.TRIGGERS:
        db.conn.execute(f"DROP TRIGGER {name}")
    db.conn.execute("UPDATE decisions SET outcome = 'share' WHERE seq = 3")
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert d["verified"] is False and d["verification"]["first_bad"] == 3
    assert "Record verified: NO. Row 3" in digest.render_markdown(d)


def test_one_decision_is_counted_in_the_singular(db, packs):
    add(db, MON)
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert "**1 decision** (previous week: 0, change +1)" in digest.render_markdown(d)


def test_markdown(db, week, packs):
    text = digest.render_markdown(digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs))
    assert text.startswith("# Information sharing digest: week 2026-W47 (Mon 16 Nov to Sun 22 Nov 2026)")
    assert "**8 decisions** (previous week: 2, change +6)" in text
    assert "## Seek advice and urgent action (1 seek advice, 1 urgent)" in text
    assert "| Do not share | 3 | 0 | +3 |" in text
    assert f"- {week['urgent']['ref']}: urgent action, Thu 19 Nov 09:00, slack, wirral" in text
    assert "- No lawful basis (2)" in text
    assert "## Left without recording (1)" in text
    assert "- old: last reviewed 2025-01-10 (684 days ago)" in text
    assert f"Record verified: yes, 12 rows, chain head `{audit.chain_head(db)}`" in text


def test_csv(db, week, packs):
    text = digest.render_csv(digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "key", "value", "previous"]
    assert ["outcome", "do_not_share", "3", "0"] in rows
    assert ["total", "decisions", "8", "2"] in rows
    assert ["do_not_share_reason", "No lawful basis", "2", ""] in rows
    assert ["chain", "verified", "yes", ""] in rows


def png_pixels(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    assert len(raw) == stride * height
    return width, height, {tuple(raw[y * stride + 1 + x * 3:y * stride + 4 + x * 3])
                           for y in range(height) for x in range(width)}


def test_chart_is_a_png_with_a_bar_colour_per_outcome_present(db, week, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    width, height, colours = png_pixels(digest.outcomes_chart_png(d))
    assert 600 <= width <= 1000 and 300 <= height <= 600
    assert set(digest.COLOURS.values()) <= colours  # the legend at least
    empty = digest.build_digest(db, week="2026-W40", now=NOW, packs_dir=packs)
    assert png_pixels(digest.outcomes_chart_png(empty))[:2] == (width, height)


def _texts(d):
    return [t[4] for t in chart.outcomes_chart(d).texts]


def test_chart_has_a_title_axes_and_a_legend_with_the_counts(db, week, packs):
    """What a lead reads on it: the title with the total, the week and its dates, the y axis in round
    numbers up to at least the tallest bar, each day by weekday and date, each bar's total, and the
    legend with every outcome's count for the week."""
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    boxes = chart.outcomes_chart(d).texts
    texts = [b[4] for b in boxes]
    assert texts[0] == f"Decisions per day, {d['total']} in all"
    assert "Week 2026-W47 (Mon 16 Nov to Sun 22 Nov 2026)" in texts
    assert "Decisions" in texts and "Day" in texts
    zero = boxes[texts.index("Decisions") + 1]  # the y axis: labels right-aligned with its 0
    assert zero[4] == "0"
    ticks = [int(b[4]) for b in boxes if b[4].isdigit() and b[0] + b[2] == zero[0] + zero[2]]
    assert ticks[0] == 0 and ticks == sorted(ticks) and ticks[-1] >= max(
        sum(r[k] for k in audit.OUTCOMES) for r in d["by_day"])
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "16", "22"):
        assert day in texts
    for key, label in digest.OUTCOME_LABELS.items():
        assert f"{label} ({d['by_outcome'][key]})" in texts


def test_chart_texts_are_drawn_inside_it_without_overlapping(db, week, packs):
    """Legible: every text lies wholly on the image, has ink where it was written, uses only
    characters the font has, and no two texts overlap, for a week, a month and a year."""
    for span in ({"week": "2026-W47"}, {"since": "2026-10-01", "until": "2026-10-31"},
                 {"since": "2026-01-01", "until": "2026-11-25"}):
        d = digest.build_digest(db, **span, now=NOW, packs_dir=packs, verify=False)
        canvas = chart.outcomes_chart(d)
        boxes = canvas.texts
        for x, y, w, h, s in boxes:
            assert 0 <= x and x + w <= canvas.w and 0 <= y and y + h <= canvas.h, s
            assert set(s) <= set(chart._FONT), s
            ink = [canvas.px[(yy * canvas.w + xx) * 3] for yy in range(y, y + h) for xx in range(x, x + w)]
            assert min(ink) < 200, s
        for i, (x, y, w, h, s) in enumerate(boxes):
            for x2, y2, w2, h2, s2 in boxes[i + 1:]:
                assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, (s, s2)


def test_an_empty_period_says_so_on_the_chart(db, packs):
    d = digest.build_digest(db, week="2026-W40", now=NOW, packs_dir=packs)
    texts = _texts(d)
    assert "No decisions recorded" in texts and "Share (0)" in texts


def test_chart_ticks_are_round_numbers():
    assert [chart._tick_step(p) for p in (1, 4, 5, 6, 13, 27, 99, 240, 1001)] == [1, 1, 1, 2, 5, 10, 20, 50, 500]


def test_chart_bars_scale_with_the_counts(db, packs):
    for _ in range(4):
        add(db, MON, outcome="urgent_action")
    add(db, MON + timedelta(days=1), outcome="urgent_action")
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    png = digest.outcomes_chart_png(d)
    width, height, _ = png_pixels(png)
    raw = zlib.decompress(_idat(png))
    red = digest.COLOURS["urgent_action"]
    stride = width * 3 + 1

    def red_rows(x):
        return sum(1 for y in range(height - 30) if tuple(raw[y * stride + 1 + x * 3:y * stride + 4 + x * 3]) == red)

    columns = [x for x in range(width) if red_rows(x)]
    monday, tuesday = red_rows(columns[0]), red_rows(columns[-1])
    assert monday == pytest.approx(4 * tuesday, abs=2)


def _idat(data):
    pos, out = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            out += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return out


def test_a_long_range_charts_by_week(db, packs):
    add(db, MON)
    d = digest.build_digest(db, since="2026-01-01", until="2026-11-25", now=NOW, packs_dir=packs, verify=False)
    assert len(d["by_day"]) == 329
    assert png_pixels(digest.outcomes_chart_png(d))[0] < 1000


def test_a_range_of_over_a_year_keeps_each_years_weeks_apart(db, packs):
    add(db, datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc))  # week 2 of 2025
    add(db, datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))  # week 2 of 2026
    d = digest.build_digest(db, since="2024-12-30", until="2026-01-11", now=NOW, packs_dir=packs, verify=False)
    buckets = chart._chart_buckets(d)
    assert len(buckets) == 54  # the 52 ISO weeks of 2025 (from Mon 30 Dec 2024) and two of 2026
    assert [sum(b.values()) for labels, b in buckets if labels == ("W2",)] == [1, 1]


def test_json_contract_keys(db, week, packs):
    d = digest.build_digest(db, week="2026-W47", now=NOW, packs_dir=packs)
    assert {"week", "total", "by_outcome", "chain_head", "verified"} <= set(d)
    assert set(d["by_outcome"]) == {"share", "do_not_share", "seek_advice", "urgent_action"}


def test_only_leads_pull_the_digest():
    config = Config(leads={"slack": ["U0LEAD0001"], "console": ["lead1"]})
    digest.require_lead(config, "slack", "U0LEAD0001")
    for channel, user in [("slack", "U0PRAC0002"), ("teams", "U0LEAD0001"), ("console", "U0LEAD0001")]:
        with pytest.raises(digest.NotALead):
            digest.require_lead(config, channel, user)


def test_purged_rows_still_count(db, packs):
    add(db, MON - timedelta(days=800), outcome="do_not_share")
    audit.purge(db, 365, now=NOW)
    d = digest.build_digest(db, since="2024-01-01", until="2024-12-31", now=NOW, packs_dir=packs)
    assert d["by_outcome"]["do_not_share"] == 1 and d["verified"] is True
    assert d["do_not_share_reasons"] == []  # the reason went with the detail


def test_a_superseded_pack_is_due_for_review_with_its_note(db):
    d = digest.build_digest(db, week="2026-W47", now=NOW)
    hmg = next(p for p in d["stale_packs"] if p["pack_id"] == "hmg-2018")
    assert "replaced by new national advice in May 2024" in hmg["superseded"]
    assert all(p["superseded"] is None for p in d["stale_packs"] if p["pack_id"] != "hmg-2018")  # not inherited
    text = digest.render_markdown(d)
    assert "- hmg-2018: its source has been replaced. In England this HM Government advice" in text
