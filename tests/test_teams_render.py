"""The Teams cards as a person sees them: drawn by the official Adaptive Cards renderer in headless
Chromium, at 450 px (Teams on a phone, or its side panel) and 700 px, with a host configuration
modelled on Teams' own (``tests/render/teams-hostconfig.json``: Teams' type sizes and spacing, at
most 6 actions, buttons stretched across the row).

For each card (the questions, an outcome, the record form and its errors, the summary, the topics,
the digest) the test fails when a button's or a choice's label does not fit, a drop-down shows nothing, or the
renderer finds a problem in the card. Screenshots are kept in ``test-output/cards/`` to look at.
``tests/render/setup.sh`` installs Debian's Chromium and the renderer (``.ci/run`` runs it);
without them the test is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.teams import cards
from dialogs.engine import Engine
from dialogs.events import Event
from storage import audit
from storage.db import open_db

RENDER = Path(__file__).parent / "render"
OUTPUT = Path(__file__).parents[1] / "test-output" / "cards"
WIDTHS = (450, 700)


def chromium() -> str | None:
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    found = chromium()
    renderer = RENDER / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
    if found is None or not renderer.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium or the Adaptive Cards renderer is missing: .ci/run runs tests/render/setup.sh")
        pytest.skip("run tests/render/setup.sh to render the cards (Debian's Chromium, the renderer from npm)")
    return found


def the_cards() -> dict[str, dict]:
    """Real cards of a walk in the default pack, drawn as the Teams adapter draws them."""
    engine = Engine(open_db(":memory:"), is_lead=lambda channel, user: True)

    def say(ev):
        return engine.handle("teams", "c", "u", ev)
    out = {"question-1": cards.render_turn(say(Event("start")))[-1].card,
           "question-2": cards.render_turn(say(Event("answer", "no")))[-1].card}
    say(Event("answer", "yes"))
    out["outcome"] = cards.render_turn(say(Event("answer", "yes")))[-1].card
    out["record-form"] = cards.render_turn(say(Event("record")))[-1].card
    submitted = {"informed": "no", "reason": "x" * 10}
    errors = say(Event("record_submit", values=submitted))
    out["record-form-errors"] = cards.render_turn(errors, current=engine.current("teams", "c", "u"),
                                                  submitted=submitted)[-1].card
    values = {"categories": "health", "recipient": "health", "purpose": "safeguarding_referral",
              "lawful_basis": "consent", "informed": "yes", "case_ref": "TEST-0001",
              "reason": "Made-up reason: the school nurse needs the attendance pattern."}
    out["summary"] = cards.render_turn(say(Event("record_submit", values=values)))[-1].card
    say(Event("confirm"))
    out["topics"] = cards.render_turn(say(Event("topics")))[-1].card
    for outcome in ("share", "seek_advice", "urgent_action", "do_not_share"):
        audit.append_decision(engine.db, {"user_id": "u", "channel": "teams", "conversation_id": "c",
                                          "pack_id": "wirral", "pack_version": "1", "outcome": outcome,
                                          "answers": [["immediate_risk", "no"]], "kind": "decision",
                                          "record": {"reason": "Made-up reason for a test", "case_ref": "TEST-2"}})
    out["digest"] = cards.render_turn(say(Event("digest")))[-1].card
    return out


def render(browser: str, name: str, card: dict, width: int, tmp_path: Path) -> dict:
    page = (RENDER / "card.html").read_text(encoding="utf-8")
    host = (RENDER / "teams-hostconfig.json").read_text(encoding="utf-8")
    html = page.replace("/*CARD*/null", json.dumps(card)).replace("/*HOST*/null", host)
    path = RENDER / f".{name}-{width}.html"  # beside the renderer, which it loads by a relative path
    path.write_text(html, encoding="utf-8")
    try:
        common = [browser, "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},2400",
                  f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run(common + ["--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=60).stdout
        OUTPUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(common + [f"--screenshot={OUTPUT / f'{name}-{width}.png'}", path.as_uri()],
                       capture_output=True, timeout=60)
    finally:
        path.unlink(missing_ok=True)
    m = re.search(r'<pre id="report">(.*?)</pre>', dom, re.DOTALL)
    assert m and m.group(1), f"{name} at {width}px: the page did not render"
    return json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def test_every_card_reads_whole_on_a_phone_and_on_a_desktop(browser, tmp_path):
    found = []
    for name, card in the_cards().items():
        for width in WIDTHS:
            report = render(browser, name, card, width, tmp_path)
            assert report["buttons"] or name == "digest", (name, report)
            found += [f"{name} at {width}px: the label {b!r} is cut" for b in report["cut"]]
            found += [f"{name} at {width}px: a drop-down shows nothing ({b})" for b in report["blank"]]
            found += [f"{name} at {width}px: {p}" for p in report["problems"]]
    assert found == []
    assert (OUTPUT / "question-2-450.png").stat().st_size > 1000
